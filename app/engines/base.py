"""The contract every engine honours: a context in, ranked ids with scores and evidence out.

The caller (the service layer) has already reduced `candidates` to the services
that may be shown; an engine only orders them, and never returns anything else.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

import numpy as np

from app.engines.interactions import DEFAULT_OBJECTIVE, OBJECTIVES, Interactions


class EngineNotReady(Exception):
    """The engine needs a fitted model and has none (e.g. before the first training)."""

    def __init__(self, engine_name: str):
        super().__init__(f"engine {engine_name} has no fitted model")
        self.engine_name = engine_name


@dataclass(frozen=True, eq=False, kw_only=True)
class RecommendationContext:
    """Everything an engine may use to answer one request."""

    candidates: np.ndarray  # (c,) int64 eligible service ids, in the caller's order
    k: int  # how many to recommend (ranking engines ignore it)
    now: float  # request time, seconds since the epoch
    user_id: int | None = None
    unique_id: str | None = None
    history: Interactions = field(default_factory=Interactions.empty)  # past interactions, oldest first
    session: Interactions = field(default_factory=Interactions.empty)  # this visit's latest events
    # Services the user took (the marketplace's accessed services, then later orders), oldest first:
    # what models trained on taken services see as a user's recent past.
    taken: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    user_features: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # e.g. "categories": (3, 7)
    seed: int | None = None  # makes random engines deterministic
    context_service_id: int | None = None  # the service whose page shows the panel ("services like this one")
    objective: str = DEFAULT_OBJECTIVE  # what the panel is for: the next "click", "cart" or "order"

    def __post_init__(self):
        candidates = np.asarray(self.candidates, dtype=np.int64).reshape(-1)
        # Duplicates would come back as duplicates; keep each id's first place. Ids in increasing
        # order (what the catalogue gives) have none, and are told apart without sorting.
        if not (candidates[1:] > candidates[:-1]).all():
            _, first = np.unique(candidates, return_index=True)
            if first.size != candidates.size:
                candidates = candidates[np.sort(first)]
        if self.k < 0:
            raise ValueError("k must not be negative")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, not {self.objective!r}")
        features = {name: tuple(int(i) for i in ids) for name, ids in self.user_features.items()}
        object.__setattr__(self, "candidates", candidates)
        object.__setattr__(self, "taken", np.asarray(self.taken, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "user_features", features)

    @cached_property
    def interactions(self) -> Interactions:
        """History then session: the session's events are the most recent."""
        return self.history.then(self.session)


class EvidenceKind(StrEnum):
    """Why an item was chosen."""

    CO_ORDERED = "co_ordered"  # ordered together with `service_id` by other users
    CO_VISITED = "co_visited"  # visited together with `service_id` by other users
    SIMILAR_TO_VIEWED = "similar_to_viewed"  # like `service_id`, which the visitor viewed
    POPULAR_IN_CATEGORY = "popular_in_category"  # popular within `category_id`
    POPULAR = "popular"
    RANDOM = "random"
    PERSONAL = "personal"  # a model of this user's tastes
    # Like `service_id`, the service the visitor is looking at:
    SAME_CATEGORY = "same_category"  # both are in `category_id`
    SAME_PROVIDER = "same_provider"
    SAME_SCIENTIFIC_DOMAIN = "same_scientific_domain"
    SIMILAR_DESCRIPTION = "similar_description"  # name, tagline and description use the same rare words


@dataclass(frozen=True)
class Evidence:
    """Why one item was chosen, as data: a presenter turns it into words."""

    kind: EvidenceKind
    service_id: int | None = None  # the related service (e.g. the one co-visited)
    category_id: int | None = None
    strength: float = 0.0  # how strong the reason is, in the engine's own units


@dataclass(frozen=True, eq=False)
class Recommendations:
    """An engine's answer, best first."""

    ids: np.ndarray  # (n,) int64
    scores: np.ndarray  # (n,) float64, descending
    evidence: tuple[Evidence, ...]  # (n,)
    # (n,) the chance that this engine shows each item for this context, what off-policy
    # evaluation divides by; None: each is certain (a deterministic engine).
    probabilities: np.ndarray | None = None

    @classmethod
    def empty(cls) -> Recommendations:
        """No recommendations."""
        return cls(np.empty(0, np.int64), np.empty(0, np.float64), ())

    def __len__(self) -> int:
        return int(self.ids.size)


def ranked_positions(scores: np.ndarray, k: int | None) -> np.ndarray:
    """Positions of the `k` highest scores (all when k is None), best first; ties keep input order."""
    n = scores.size
    if k is None or k >= n:
        return np.argsort(-scores, kind="stable")
    if k <= 0:
        return np.empty(0, np.int64)
    kth_best = np.partition(scores, n - k)[n - k]
    above = np.flatnonzero(scores > kth_best)
    tied = np.flatnonzero(scores == kth_best)[: k - above.size]
    chosen = np.concatenate([above, tied])  # each part in input order
    return chosen[np.argsort(-scores[chosen], kind="stable")]


class Engine(ABC):
    """An engine orders candidates. Subclasses implement `_score` and `_evidence`.

    A recommending engine returns at most k candidates, only those with a
    positive score (it says nothing it has no reason for, so it may return
    fewer); a ranking engine returns every candidate.
    """

    name: str = "Engine"  # the contract's engine_version
    ranking: bool = False
    deterministic: bool = True  # same context, same answer (every engine: same seed, same answer)

    @property
    def ready(self) -> bool:
        """Can this engine answer? A model-backed engine without a model cannot."""
        return True

    def recommend(self, context: RecommendationContext) -> Recommendations:
        """The best candidates for this context, best first, each with its evidence."""
        self._require_ready()
        candidates = context.candidates
        scores = self._score(context, candidates)  # (c,)
        if self.ranking:
            chosen = ranked_positions(scores, None)
        else:
            scored = np.flatnonzero(scores > 0)
            chosen = scored[ranked_positions(scores[scored], context.k)]
        ids, chosen_scores = candidates[chosen], scores[chosen]
        return Recommendations(ids, chosen_scores, tuple(self._evidence(context, ids, chosen_scores)),
                               self._show_probabilities(context, ids))

    def recommend_batch(self, contexts: Sequence[RecommendationContext]) -> list[Recommendations]:
        """`recommend` for each context; engines override it where batching is faster."""
        return [self.recommend(context) for context in contexts]

    def score(self, context: RecommendationContext, service_ids: np.ndarray) -> np.ndarray:
        """One finite float64 score per given id, in order (ids need not be candidates)."""
        self._require_ready()
        return self._score(context, np.asarray(service_ids, dtype=np.int64).reshape(-1))

    def _require_ready(self) -> None:
        if not self.ready:
            raise EngineNotReady(self.name)

    @abstractmethod
    def _score(self, context: RecommendationContext, service_ids: np.ndarray) -> np.ndarray:
        """(n,) int64 ids → (n,) float64 finite scores, higher is better."""

    def _show_probabilities(self, context: RecommendationContext, ids: np.ndarray) -> np.ndarray | None:
        """(n,) chance of showing each of the returned ids; None when the answer is certain."""
        return None

    @abstractmethod
    def _evidence(self, context: RecommendationContext, ids: np.ndarray, scores: np.ndarray) -> Sequence[Evidence]:
        """One Evidence per chosen id (at most k of them, or every candidate when ranking)."""
