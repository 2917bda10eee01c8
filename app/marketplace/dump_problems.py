"""What a valid dump still gets wrong: references to ids it does not contain, services
without a status. Kept as sent (readers decide); reported on the snapshot and /datasets."""
from __future__ import annotations

from app.wire.dump import DUMP_KEYS

# (dump key, field, the dump key whose ids the field holds)
REFERENCES = (
    *(("services", field, field) for field in (
        "categories", "providers", "scientific_domains", "platforms", "target_users", "access_types",
        "access_modes", "trls", "life_cycle_statuses", "research_steps")),
    ("services", "resource_organisation", "providers"),
    ("services", "related_services", "services"),
    ("services", "required_services", "services"),
    ("users", "scientific_domains", "scientific_domains"),
    ("users", "categories", "categories"),
    ("users", "accessed_services", "services"),
    ("projects", "user_id", "users"),
    ("projects", "services", "services"),
)
PROBLEM_EXAMPLES = 5


def find_problems(dump: dict) -> dict:
    """What a valid dump still gets wrong, per kind: {"<key>/<field>": {reason,
    count, examples}}. Dangling references are kept as sent; readers decide."""
    ids = {key: {item["id"] for item in dump[key]} for key in DUMP_KEYS}
    problems = {}
    for key, field, target in REFERENCES:
        known, count, examples = ids[target], 0, []
        for item in dump[key]:
            for ref in _referenced_ids(item.get(field)):
                if ref not in known:
                    count += 1
                    if len(examples) < PROBLEM_EXAMPLES:
                        examples.append({"id": item["id"], "missing": ref})
        if count:
            reason = f"refers to {target} ids the dump does not contain"
            problems[f"{key}/{field}"] = {"reason": reason, "count": count, "examples": examples}
    no_status = [service["id"] for service in dump["services"] if service.get("status") is None]
    if no_status:
        problems["services/status"] = {
            "reason": "no status: not recommendable", "count": len(no_status),
            "examples": [{"id": sid} for sid in no_status[:PROBLEM_EXAMPLES]],
        }
    return problems


def _referenced_ids(value) -> list | tuple:
    """A reference field's ids: a list of them, one id, or none (absent optional field)."""
    if isinstance(value, list):
        return value
    return () if value is None else (value,)
