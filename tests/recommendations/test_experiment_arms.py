"""Which running experiment takes a request, and which variant a person sees in it."""
from __future__ import annotations

from app.recommendations.experiment_arms import Arm, LiveExperiment, pinned_versions, place

POPULAR, RANDOM, SHADOW = Arm("popular", "Popularity", None), Arm("random", "Random", None), Arm("ncf", "NCF", "v9")
ON_SERVICES = LiveExperiment("e1", "/services", "v1", (POPULAR, RANDOM), (0.5, 0.5), (SHADOW,))
ON_V2 = LiveExperiment("e2", None, "v2", (POPULAR, RANDOM), (0.0, 1.0), ())
REQUEST = {"unique_id": "5642C351-80FE-44CF-B606-304F2F338122", "page_id": "/services"}


def test_a_request_in_scope_gets_a_variant_and_its_person():
    placement = place((ON_SERVICES, ON_V2), REQUEST, "v1", None)
    assert placement.experiment is ON_SERVICES and placement.arm in (POPULAR, RANDOM)
    assert placement.unit == "visitor:5642c351-80fe-44cf-b606-304f2f338122"
    assert placement.log_fields() == {"experiment": "e1", "variant": placement.arm.name, "unit": placement.unit}
    assert place((ON_SERVICES,), REQUEST, "v1", 7).unit == "user:7"


def test_shares_decide_the_variant():
    assert place((ON_V2,), {**REQUEST, "page_id": "/anything"}, "v2", 3).arm == RANDOM  # all of its traffic


def test_out_of_scope_or_without_experiments_there_is_no_place():
    assert place((), REQUEST, "v1", None) is None
    assert place((ON_SERVICES,), {**REQUEST, "page_id": "/projects"}, "v1", None) is None
    assert place((ON_SERVICES,), REQUEST, "v2", None) is None
    assert place((ON_SERVICES,), {"page_id": "/services"}, "v1", None) is None  # nobody to assign


def test_a_named_engine_bypasses_and_says_so():
    placement = place((ON_SERVICES,), {**REQUEST, "engine_version": "NCF"}, "v1", None)
    assert placement.arm is None and placement.log_fields() == {"experiment_bypassed": "e1"}


def test_pinned_versions_of_shown_and_shadow_variants():
    pinned = LiveExperiment("e3", None, None, (Arm("a", "NCF", "v1"), POPULAR), (0.5, 0.5), (SHADOW,))
    assert pinned_versions((pinned, ON_V2)) == {"v1", "v9"}
