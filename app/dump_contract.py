"""What the marketplace's contract says a dump holds, as plain values every layer may import:
its top-level keys in the contract's order, and the service statuses that may be recommended.

The dump's wire schema (app/wire/dump.py) and its stored documents
(app/storage/marketplace.py) map these keys to their models; a test keeps them in step."""

DUMP_KEYS = ("services", "users", "projects", "categories", "scientific_domains", "platforms", "providers",
             "target_users", "access_modes", "access_types", "trls", "life_cycle_statuses", "research_steps")

# Only services in these statuses may be shown to anyone.
RECOMMENDABLE_STATUSES = ("published", "unverified")
