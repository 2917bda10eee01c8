from __future__ import annotations

import pytest

from app.engines import Evidence, EvidenceKind, explain, explain_all

NAMES = {"services": {12: "EGI Cloud Compute", 40: "B2SHARE"}, "categories": {3: "Compute"}}


def test_a_co_ordered_service_names_what_was_ordered():
    assert explain(Evidence(EvidenceKind.CO_ORDERED, service_id=12), NAMES) == (
        "Ordered by users who also ordered EGI Cloud Compute", "Users also ordered EGI Cloud Compute")


def test_a_co_visited_service_names_what_was_viewed():
    assert explain(Evidence(EvidenceKind.CO_VISITED, service_id=40), NAMES)[1] == "Users also viewed B2SHARE"


def test_a_similar_service_names_the_one_viewed():
    long, short = explain(Evidence(EvidenceKind.SIMILAR_TO_VIEWED, service_id=40), NAMES)
    assert (long, short) == ("Similar to B2SHARE, which you viewed", "Similar to B2SHARE")


def test_a_popular_service_names_its_category():
    assert explain(Evidence(EvidenceKind.POPULAR_IN_CATEGORY, category_id=3), NAMES) == (
        "Popular in Compute lately", "Popular in Compute")


def test_a_category_id_is_not_mistaken_for_a_service_id():
    names = {"services": {3: "A service"}, "categories": {}}
    long, _ = explain(Evidence(EvidenceKind.POPULAR_IN_CATEGORY, category_id=3), names)
    assert "A service" not in long


@pytest.mark.parametrize("kind", list(EvidenceKind))
def test_every_kind_reads_well_with_names_missing(kind):
    long, short = explain(Evidence(kind, service_id=999, category_id=999), {})
    assert long and short and "{" not in long + short and "None" not in long + short
    assert (long, short) != ("Recommended for you", "Recommended")


def test_explain_all_gives_the_two_response_lists():
    evidence = (Evidence(EvidenceKind.POPULAR), Evidence(EvidenceKind.RANDOM))
    assert explain_all(evidence, NAMES) == (
        ["Popular with users of this marketplace lately", "Picked at random, to help you discover services"],
        ["Popular", "Discover"])
