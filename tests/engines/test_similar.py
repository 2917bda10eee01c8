"""Similar: services like the one being viewed, from co-visitation and from content."""
from __future__ import annotations

import numpy as np
import pytest

from app.engines import (
    EngineNotReady,
    EvidenceKind,
    InteractionType,
    RecommendationContext,
    ServiceContent,
    SimilarServices,
    explain,
    fit_session,
)

DAY, NOW = 86_400.0, 1_700_000_000.0
VIEW, ORDER = InteractionType.VIEW, InteractionType.ORDER
COMPUTE, DATA, TOOLS = 10, 20, 30
# id: (name, tagline, categories, providers, scientific domains)
SERVICES = {
    1: ("EGI Cloud Compute", "Virtual machines on demand", [COMPUTE], [100], [7]),
    2: ("Container Compute", "Run containers on virtual machines", [COMPUTE], [100], [7]),
    3: ("Genome Archive", "Long-term storage of sequencing data", [DATA], [200], [8]),
    4: ("Ocean Archive", "Long-term storage of ocean sensor data", [DATA], [200], [9]),
    5: ("Jupyter Notebooks", "Interactive notebooks in the browser", [TOOLS], [300], [9]),
    6: ("HPC Cluster", "Batch jobs on a compute cluster", [COMPUTE], [100], [7]),  # brand new: nobody visited it
    7: ("Sequencing Storage", "Long-term storage of sequencing data", [TOOLS], [400], []),
}
NAMES = {"services": {i: s[0] for i, s in SERVICES.items()},
         "categories": {COMPUTE: "Compute", DATA: "Data", TOOLS: "Tools"}}


def content() -> ServiceContent:
    ids = sorted(SERVICES)
    return ServiceContent.build(
        ids, {"categories": [SERVICES[i][2] for i in ids], "providers": [SERVICES[i][3] for i in ids],
              "scientific_domains": [SERVICES[i][4] for i in ids]},
        [f"{SERVICES[i][0]} {SERVICES[i][1]}" for i in ids])


def neighbours(pairs: list[tuple[int, int, int]], visitors: int = 10):
    """Each visitor does every (first, second, type) pair once, an hour apart, a day after the last visitor."""
    rows = []
    for visitor in range(visitors):
        start = NOW - 30 * DAY + visitor * DAY
        for step, (first, second, kind) in enumerate(pairs):
            key = visitor * 100 + step
            rows += [(key, first, kind, start), (key, second, kind, start + 3_600.0)]
    keys, services, types, times = (np.array(column) for column in zip(*rows))
    return fit_session(keys, services, types, times)


def similar(engine: SimilarServices, service_id: int | None, k: int = 3, candidates=None):
    candidates = sorted(SERVICES) if candidates is None else candidates
    return engine.recommend(RecommendationContext(candidates=np.array(candidates), k=k, now=NOW,
                                                  context_service_id=service_id))


def test_a_service_nobody_visited_gets_services_of_its_category_and_provider_first():
    engine = SimilarServices(content(), neighbours([(1, 5, ORDER)]))
    answer = similar(engine, 6, k=2)
    assert sorted(answer.ids.tolist()) == [1, 2]
    assert all(e.kind == EvidenceKind.SAME_CATEGORY and e.category_id == COMPUTE for e in answer.evidence)
    assert explain(answer.evidence[0], NAMES) == ("Also in Compute, like the service you are viewing",
                                                  "Same category: Compute")


def test_services_often_ordered_together_rank_above_mere_look_alikes():
    engine = SimilarServices(content(), neighbours([(1, 5, ORDER)]))
    answer = similar(engine, 1)
    assert answer.ids.tolist()[:3] == [5, 2, 6]  # the co-ordered notebook first, then the other compute services
    assert answer.evidence[0].kind == EvidenceKind.CO_ORDERED and answer.evidence[0].service_id == 1
    assert explain(answer.evidence[0], NAMES)[1] == "Users also ordered EGI Cloud Compute"


def test_services_viewed_together_say_so_and_count_less_than_orders():
    viewed = SimilarServices(content(), neighbours([(1, 5, VIEW)]))
    ordered = SimilarServices(content(), neighbours([(1, 5, ORDER)]))
    view_answer, order_answer = similar(viewed, 1), similar(ordered, 1)
    assert view_answer.evidence[0].kind == EvidenceKind.CO_VISITED
    assert explain(view_answer.evidence[0], NAMES)[1] == "Users also viewed EGI Cloud Compute"
    assert order_answer.scores[0] > view_answer.scores[0]


def test_a_weak_co_visit_does_not_outrank_strong_look_alikes():
    # The genome archive's strongest neighbour is the notebook (ordered with it ten times); the
    # cloud is its weakest (viewed with it once). The ocean archive and the sequencing storage
    # share its words (and the ocean archive its category and provider), not its visitors.
    strong = [(3, 5, ORDER)] * 10
    engine = SimilarServices(content(), neighbours(strong + [(3, 1, VIEW)], visitors=1))
    ranked = similar(engine, 3, k=6).ids.tolist()
    assert ranked[0] == 5
    assert ranked.index(1) > max(ranked.index(4), ranked.index(7))
    evidence = dict(zip(ranked, similar(engine, 3, k=6).evidence))
    assert evidence[4].kind == EvidenceKind.SAME_CATEGORY
    assert evidence[7].kind == EvidenceKind.SIMILAR_DESCRIPTION
    assert explain(evidence[7], NAMES) == ("Described much like Genome Archive", "Similar description")


def test_the_context_service_never_recommends_itself():
    engine = SimilarServices(content(), neighbours([(1, 2, ORDER)]))
    for service_id in SERVICES:
        assert service_id not in similar(engine, service_id, k=len(SERVICES)).ids


def test_only_candidates_are_returned():
    engine = SimilarServices(content(), neighbours([(1, 5, ORDER)]))
    assert similar(engine, 1, candidates=[3, 4, 6]).ids.tolist()[0] == 6


def test_without_a_context_service_there_is_no_reason_to_recommend_anything():
    assert len(similar(SimilarServices(content()), None)) == 0


def test_an_unknown_context_service_gets_only_its_co_visited_neighbours():
    engine = SimilarServices(content(), neighbours([(1, 5, ORDER), (42, 3, VIEW)]))
    answer = similar(engine, 42)
    assert answer.ids.tolist() == [3]  # 42 is not in the catalogue: no content to compare


def test_without_a_session_model_content_alone_answers():
    answer = similar(SimilarServices(content(), None), 1)
    assert answer.ids.tolist()[:2] == [2, 6]


def test_without_content_the_engine_is_not_ready():
    with pytest.raises(EngineNotReady):
        similar(SimilarServices(None), 1)


def test_scores_are_the_same_as_the_ranking_says():
    engine = SimilarServices(content(), neighbours([(1, 5, ORDER)]))
    context = RecommendationContext(candidates=np.array(sorted(SERVICES)), k=7, now=NOW, context_service_id=1)
    answer = engine.recommend(context)
    assert np.allclose(engine.score(context, answer.ids), answer.scores)
    assert engine.score(context, np.array([1]))[0] == 0.0
