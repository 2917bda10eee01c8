"""Every engine and every kind of trained model, in one table.

The rest is derived from it: the names a request may ask for (the API's enum and
DEFAULT_RECOMMENDATION_ENGINE's choices), which engines rank every candidate, the
fallback chain (app/recommendations/choice.py), the model kinds of the registry
(app/storage/models.py), how the serving state builds engines from the active
versions (app/recommendations/serving_state.py) and the training jobs
(POST /training, app/tasks.py). A new engine is a row here and its code.

An engine whose `model` is CATALOGUE has no model versions of its own: the serving
state builds it for each snapshot from the snapshot's catalogue and the models the
other engines were built from (`CatalogueInputs`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.engines.base import Engine
from app.engines.content import ServiceContent
from app.engines.covisitation import SessionModel
from app.engines.ncf import NCF, NCFModel, NCFRanking
from app.engines.ncf_retrieval import RetrievalSettings
from app.engines.popularity import Popularity, PopularityModel
from app.engines.random import Random, RandomRanking
from app.engines.rl import RL, RLModel
from app.engines.score_cache import ScoreCache
from app.engines.session import Session
from app.engines.similar import SimilarServices

# When an engine stands in for one that is not ready (choice.fallback_chain).
FOR_LOGGED_IN = "logged in"  # the asker is a known user
FOR_VISITORS_WITH_EVENTS = "has events"  # the asker did something already
ALWAYS = "always"
CATALOGUE = "catalogue"  # the `model` of an engine built from the snapshot's catalogue, not from a version


@dataclass(frozen=True)
class ModelKind:
    """A kind of model version in the registry, and the training job that makes it."""

    name: str
    load: Callable[[dict, dict], Any]  # (arrays, params) from a version's safetensors → the model
    trainer: str  # the job in POST /training; its task is marketrec.training.<trainer>


@dataclass(frozen=True)
class EngineEntry:
    """An engine a request may name.

    `build(model, settings, shared)` makes it: `model` is the loaded model of its kind
    (None for an engine without one), `settings` the app's configuration, `shared` a dict
    common to the engines built from one model version (NCF and NCFRanking share a score
    cache). `fallback` says when it stands in for another (None: only when asked for)."""

    name: str
    build: Callable[[Any, Mapping, dict], Engine]
    model: str | None = None
    ranking: bool = False
    fallback: str | None = None


@dataclass(frozen=True)
class CatalogueInputs:
    """What a CATALOGUE engine is built from: the snapshot's service content, and the active
    Session model's co-visited neighbours (None before Session is first trained)."""

    content: ServiceContent
    neighbours: SessionModel | None = None


def _retrieval(settings: Mapping) -> RetrievalSettings | None:
    if not settings["NCF_RETRIEVAL_MIN_CANDIDATES"]:
        return None
    return RetrievalSettings(settings["NCF_RETRIEVAL_MIN_CANDIDATES"], settings["NCF_RETRIEVAL_POOL"],
                             settings["NCF_RETRIEVAL_INDEX"])


def _score_cache(settings: Mapping, shared: dict) -> ScoreCache:
    if "score_cache" not in shared:  # one model, one user's scores, for both NCF engines
        shared["score_cache"] = ScoreCache(int(settings["NCF_SCORE_CACHE_MB"] * 2**20))
    return shared["score_cache"]


MODEL_KINDS: tuple[ModelKind, ...] = (
    # In the order a new snapshot queues their training on the one-at-a-time training queue:
    # Popularity and Session take seconds and serve the new catalogue until NCF (minutes) is done.
    ModelKind("Popularity", PopularityModel.from_arrays, trainer="interaction_models"),
    ModelKind("Session", SessionModel.from_arrays, trainer="interaction_models"),
    ModelKind("NCF", NCFModel.from_arrays, trainer="ncf"),
    ModelKind("RL", RLModel.from_arrays, trainer="rl"),
)

# Top-k engines first, in the order the fallback chain tries them, then the ranking ones.
ENGINES: tuple[EngineEntry, ...] = (
    EngineEntry("NCF", lambda model, settings, shared: NCF(model, _score_cache(settings, shared), _retrieval(settings)),
                model="NCF", fallback=FOR_LOGGED_IN),
    EngineEntry("RL", lambda model, settings, shared: RL(model, settings["RL_EXPLORATION_EPSILON"]), model="RL"),
    # Answers a request with a context service (a service's own page) before the chain; never stands in.
    EngineEntry("Similar", lambda inputs, settings, shared: SimilarServices(inputs.content, inputs.neighbours),
                model=CATALOGUE),
    EngineEntry("Session", lambda model, settings, shared: Session(model), model="Session",
                fallback=FOR_VISITORS_WITH_EVENTS),
    EngineEntry("Popularity", lambda model, settings, shared: Popularity(model), model="Popularity",
                fallback=ALWAYS),
    EngineEntry("Random", lambda model, settings, shared: Random(), fallback=ALWAYS),
    EngineEntry("NCFRanking", lambda model, settings, shared: NCFRanking(model, _score_cache(settings, shared)),
                model="NCF", ranking=True, fallback=ALWAYS),
    EngineEntry("RandomRanking", lambda model, settings, shared: RandomRanking(), ranking=True, fallback=ALWAYS),
)


def engine_names() -> tuple[str, ...]:
    return tuple(entry.name for entry in ENGINES)


def ranking_engines() -> tuple[str, ...]:
    return tuple(entry.name for entry in ENGINES if entry.ranking)


def model_kind_names() -> tuple[str, ...]:
    return tuple(kind.name for kind in MODEL_KINDS)


def model_of_engine() -> dict[str, str]:
    """Engine name → the model kind it is built from, for the engines that need one."""
    return {entry.name: entry.model for entry in ENGINES if entry.model in model_kind_names()}


def training_jobs() -> tuple[str, ...]:
    """The training jobs, each once, in the order a new snapshot queues them."""
    return tuple(dict.fromkeys(kind.trainer for kind in MODEL_KINDS))


def build_engines(kind: str | None, model: Any, settings: Mapping) -> dict[str, Engine]:
    """The engines built from one model (of `kind`; None: the engines that need no model;
    CATALOGUE: from a CatalogueInputs)."""
    shared: dict = {}
    return {entry.name: entry.build(model, settings, shared) for entry in ENGINES if entry.model == kind}
