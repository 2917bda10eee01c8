"""Evidence in words: a long explanation and a short one for each recommended service.

`names` holds the marketplace's names by dump key, e.g.
`{"services": {12: "EGI Cloud Compute"}, "categories": {3: "Compute"}}`.
When a name is missing the sentence stays true but says less.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from app.engines.base import Evidence, EvidenceKind

# kind → (long, short) with the related name; then (long, short) without it.
_NAMED = {
    EvidenceKind.CO_ORDERED: ("Ordered by users who also ordered {name}", "Users also ordered {name}"),
    EvidenceKind.CO_VISITED: ("Viewed by users who also viewed {name}", "Users also viewed {name}"),
    EvidenceKind.SIMILAR_TO_VIEWED: ("Similar to {name}, which you viewed", "Similar to {name}"),
    EvidenceKind.POPULAR_IN_CATEGORY: ("Popular in {name} lately", "Popular in {name}"),
    # Services like the one being viewed: the category is named, the others name that service.
    EvidenceKind.SAME_CATEGORY: ("Also in {name}, like the service you are viewing", "Same category: {name}"),
    EvidenceKind.SAME_PROVIDER: ("From the same provider as {name}", "Same provider"),
    EvidenceKind.SAME_SCIENTIFIC_DOMAIN: ("For the same scientific domain as {name}", "Same scientific domain"),
    EvidenceKind.SIMILAR_DESCRIPTION: ("Described much like {name}", "Similar description"),
}
_UNNAMED = {
    EvidenceKind.CO_ORDERED: ("Ordered by users who ordered the services you did", "Users also ordered"),
    EvidenceKind.CO_VISITED: ("Viewed by users who viewed the services you did", "Users also viewed"),
    EvidenceKind.SIMILAR_TO_VIEWED: ("Similar to services you viewed", "Similar to your views"),
    EvidenceKind.POPULAR_IN_CATEGORY: ("Popular in your categories lately", "Popular in your categories"),
    EvidenceKind.POPULAR: ("Popular with users of this marketplace lately", "Popular"),
    EvidenceKind.RANDOM: ("Picked at random, to help you discover services", "Discover"),
    EvidenceKind.PERSONAL: ("Picked for you from your past activity", "Picked for you"),
    EvidenceKind.SAME_CATEGORY: ("In the same category as the service you are viewing", "Same category"),
    EvidenceKind.SAME_PROVIDER: ("From the same provider as the service you are viewing", "Same provider"),
    EvidenceKind.SAME_SCIENTIFIC_DOMAIN: ("For the same scientific domain as the service you are viewing",
                                          "Same scientific domain"),
    EvidenceKind.SIMILAR_DESCRIPTION: ("Described much like the service you are viewing", "Similar description"),
}
# Kinds whose related name is their category's, not a service's.
_NAMED_BY_CATEGORY = (EvidenceKind.POPULAR_IN_CATEGORY, EvidenceKind.SAME_CATEGORY)
_FALLBACK = ("Recommended for you", "Recommended")


def explain(evidence: Evidence, names: Mapping[str, Mapping[int, str]]) -> tuple[str, str]:
    """(long, short) explanation of one piece of evidence."""
    name = _related_name(evidence, names)
    if name and evidence.kind in _NAMED:
        long, short = _NAMED[evidence.kind]
        return long.format(name=name), short.format(name=name)
    return _UNNAMED.get(evidence.kind, _FALLBACK)


def explain_all(evidence: Sequence[Evidence], names: Mapping[str, Mapping[int, str]]) -> tuple[list[str], list[str]]:
    """The response's `explanations` and `explanations_short`, one of each per recommendation."""
    pairs = [explain(item, names) for item in evidence]
    return [long for long, _ in pairs], [short for _, short in pairs]


def _related_name(evidence: Evidence, names: Mapping[str, Mapping[int, str]]) -> str | None:
    if evidence.kind in _NAMED_BY_CATEGORY:
        return names.get("categories", {}).get(evidence.category_id) if evidence.category_id is not None else None
    if evidence.service_id is not None:
        return names.get("services", {}).get(evidence.service_id)
    return None
