"""The engine table: everything that lists engines is derived from it, so a new engine
is a row there and its code."""
from __future__ import annotations

import numpy as np
import pytest

from app.engines import Engine, Evidence, EvidenceKind, ServiceContent, registry
from app.engines.registry import FOR_LOGGED_IN, EngineEntry
from app.recommendations import choice
from app.storage.models import ENGINE_OF_MODEL, MODEL_KINDS
from tests.api.test_recommendations import ANONYMOUS
from tests.engines.test_ncf import _random_model
from tests.recommendations.serving_fixtures import serve_marketplace


class Toy(Engine):
    """Recommends the lowest eligible ids first."""

    name = "Toy"

    def _score(self, context, service_ids):
        return 1.0 / (1.0 + np.asarray(service_ids, dtype=np.float64))

    def _evidence(self, context, ids, scores):
        return (Evidence(EvidenceKind.RANDOM),) * ids.size


TOY = EngineEntry("Toy", lambda model, settings, shared: Toy(), fallback=None)


@pytest.fixture
def with_toy(monkeypatch):
    monkeypatch.setattr(registry, "ENGINES", (*registry.ENGINES, TOY))


def test_the_table_gives_today_s_engines_chain_and_models():
    assert registry.engine_names() == ("NCF", "RL", "Similar", "Session", "Popularity", "Random", "NCFRanking",
                                       "RandomRanking")
    assert registry.ranking_engines() == ("NCFRanking", "RandomRanking")
    assert MODEL_KINDS == ("Popularity", "Session", "NCF", "RL")
    assert ENGINE_OF_MODEL == {"NCF": "NCF", "RL": "RL", "Session": "Session", "Popularity": "Popularity",
                               "NCFRanking": "NCF"}
    assert registry.training_jobs() == ("interaction_models", "ncf", "rl")
    assert choice.fallback_chain(None, None, logged_in=True, has_events=True) == \
        ["NCF", "Session", "Popularity", "Random"]
    assert choice.fallback_chain(None, None, logged_in=False, has_events=False) == ["Popularity", "Random"]
    assert choice.fallback_chain("RL", "Session", logged_in=False, has_events=False) == \
        ["RL", "Session", "Popularity", "Random"]
    assert choice.fallback_chain("NCFRanking", "NCF", logged_in=True, has_events=True) == \
        ["NCFRanking", "RandomRanking"]


def test_engines_of_one_model_version_share_what_they_share():
    settings = {"NCF_SCORE_CACHE_MB": 1, "NCF_RETRIEVAL_MIN_CANDIDATES": 10, "NCF_RETRIEVAL_POOL": 5,
                "NCF_RETRIEVAL_INDEX": "flat"}
    model = _random_model(services=20).with_retrieval()
    built = registry.build_engines("NCF", model, settings)
    assert set(built) == {"NCF", "NCFRanking"}
    assert built["NCF"].cache is built["NCFRanking"].cache
    assert built["NCF"].retrievers and not built["NCFRanking"].retrievers  # a ranking ranks every candidate
    never = registry.build_engines("NCF", model, {**settings, "NCF_RETRIEVAL_MIN_CANDIDATES": 0})
    assert not never["NCF"].retrievers
    assert set(registry.build_engines(None, None, {})) == {"Random", "RandomRanking"}


def test_similar_is_built_from_the_catalogue_and_stands_in_for_nothing():
    built = registry.build_engines(registry.CATALOGUE, registry.CatalogueInputs(ServiceContent.empty()), {})
    assert set(built) == {"Similar"} and built["Similar"].ready
    assert "Similar" not in ENGINE_OF_MODEL  # no model versions of its own to pin
    assert "Similar" not in choice.fallback_chain(None, None, logged_in=True, has_events=True)


def test_a_toy_engine_in_the_table_can_be_asked_for_and_stands_in_where_its_row_says(with_toy, monkeypatch):
    assert "Toy" in registry.engine_names() and not choice.is_ranking("Toy")
    assert choice.fallback_chain("Toy", None, logged_in=False, has_events=False) == ["Toy", "Popularity", "Random"]
    assert "Toy" not in choice.fallback_chain(None, None, logged_in=True, has_events=True)
    monkeypatch.setattr(registry, "ENGINES", (*registry.ENGINES[:-1],
                                              EngineEntry("Toy", TOY.build, fallback=FOR_LOGGED_IN)))
    assert choice.fallback_chain(None, None, logged_in=True, has_events=False) == \
        ["NCF", "Toy", "Popularity", "Random"]


def test_a_toy_engine_in_the_table_answers_requests_through_the_api(with_toy, app, client, db):
    serve_marketplace(app)  # builds the serving state with the table as it is now
    response = client.post("/recommendations", json={**ANONYMOUS, "engine_version": "Toy"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["engine_version"] == "Toy" and set(body["served_by"]) == {"Toy"}
    assert body["recommendations"] == sorted(body["recommendations"])  # the lowest ids first
