"""What the marketplace's contract says a dump holds, as plain values every layer may import:
its top-level keys in the contract's order, the service statuses that may be recommended, and
how a service's page is named after it.

The dump's wire schema (app/wire/dump.py) and its stored documents
(app/storage/marketplace.py) map these keys to their models; a test keeps them in step."""
import re
import unicodedata

DUMP_KEYS = ("services", "users", "projects", "categories", "scientific_domains", "platforms", "providers",
             "target_users", "access_modes", "access_types", "trls", "life_cycle_statuses", "research_steps")

# Only services in these statuses may be shown to anyone.
RECOMMENDABLE_STATUSES = ("published", "unverified")

# The marketplace's service pages are `/services/<slug>`, the slug made from the service's name
# as Rails' `parameterize` makes it (docs/similar-services.md#service-pages): Latin letters
# folded to ASCII, every run of other characters than a-z, 0-9, "_" and "-" one "-", repeated
# "-" one, none at either end, lower case.
SERVICES_PAGE_PREFIX = "/services/"
# Letters that Unicode decomposition does not fold to ASCII, as Rails' transliteration folds them.
_LATIN_FOLDS = str.maketrans({"Æ": "AE", "æ": "ae", "Ø": "O", "ø": "o", "ß": "ss", "Đ": "D", "đ": "d", "Ł": "L",
                              "ł": "l", "Œ": "OE", "œ": "oe", "Þ": "TH", "þ": "th", "Ð": "D", "ð": "d"})
_NOT_IN_SLUG = re.compile(r"[^a-z0-9_\-]+")
_REPEATED_DASHES = re.compile(r"-{2,}")
_COMBINING_MARKS = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
_NOT_ASCII = re.compile(r"[^\x00-\x7f]+")


def service_slug(name: str) -> str:
    """The slug of a service page for a service of this name ("EGI Cloud Compute" → "egi-cloud-compute")."""
    text = name or ""
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text.translate(_LATIN_FOLDS))
        # Accents go (é → e); a letter with no ASCII form becomes a separator, as Rails' "?" does.
        text = _NOT_ASCII.sub("-", _COMBINING_MARKS.sub("", decomposed))
    return _REPEATED_DASHES.sub("-", _NOT_IN_SLUG.sub("-", text.lower())).strip("-")
