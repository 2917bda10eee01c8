"""Popularity: recent, weighted interaction counts, leaning to the visitor's categories.

A service's popularity is the sum over its interactions of the type's weight
(an order counts more than a view) halved every `half_life_seconds` of age.
For a visitor with categories (given as features, or read off the services
in their history) part of the score is popularity *within* those categories,
each normalised by its own best service, so a small category's leader can
outrank a large category's runner-up.

Each objective (app/engines/interactions.py: the next click, cart or order) weighs the
interaction types its own way; the model keeps the decayed counts per type, and the
engine derives each objective's popularity from them once, when it is built.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from app.engines.base import Evidence, EvidenceKind, RecommendationContext
from app.engines.catalogue import IdIndex, ServiceCategories
from app.engines.csr import (
    best_entry_per_group,
    gather_rows,
    row_lengths_to_indptr,
    segment_max,
)
from app.engines.fitted import FittedEngine, FittedModel
from app.engines.interactions import (
    DEFAULT_OBJECTIVE,
    DEFAULT_TYPE_WEIGHTS,
    OBJECTIVES,
    InteractionType,
    objective_weights,
    other_objectives_weights,
    type_weight_table,
)

DAY = 86_400.0


@dataclass(frozen=True)
class PopularityParams:
    """How interactions are counted and how much the visitor's categories weigh."""

    half_life_seconds: float = 30 * DAY
    type_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TYPE_WEIGHTS))  # the order objective's
    category_weight: float = 0.7  # share of the score that popularity within the visitor's categories gets
    # The other objectives' weights (a version stored before objectives existed gets these defaults).
    objective_type_weights: dict[str, dict[str, float]] = field(default_factory=other_objectives_weights)

    def weights_of(self, objective: str) -> Mapping[str, float]:
        """The type weights that make `objective`'s popularity."""
        return objective_weights(objective, self.type_weights, self.objective_type_weights)


@dataclass(frozen=True, eq=False)
class PopularityModel(FittedModel):
    """A fitted popularity model: plain arrays plus the parameters that made them."""

    hyperparameters: PopularityParams
    reference_time: float  # the time the decayed counts are measured at
    service_ids: np.ndarray  # (s,) int64 sorted: every service seen in interactions or categories
    popularity: np.ndarray  # (s,) float64 in [0, 1], the most popular service is 1
    category_ids: np.ndarray  # (g,) int64 sorted
    category_indptr: np.ndarray  # (s + 1,) int64: service i's entries are indptr[i]:indptr[i + 1]
    category_positions: np.ndarray  # (nnz,) int64 rows of category_ids
    popularity_in_category: np.ndarray  # (nnz,) float64 popularity / best popularity in that category
    # (types, s) float64 decayed interaction counts per InteractionType; None in versions stored
    # before objectives, whose every objective is `popularity`.
    type_counts: np.ndarray | None = None

    array_fields = ("service_ids", "popularity", "category_ids", "category_indptr", "category_positions",
                    "popularity_in_category", "type_counts")
    optional_array_fields = ("type_counts",)
    hyperparameters_class = PopularityParams


def fit_popularity(service_ids: np.ndarray, types: np.ndarray, timestamps: np.ndarray,
                   categories: ServiceCategories | None = None, params: PopularityParams | None = None,
                   reference_time: float | None = None) -> PopularityModel:
    """Fit from interactions: (n,) service ids, (n,) InteractionType codes, (n,) timestamps in seconds.

    `reference_time` defaults to the latest interaction. Decay to any later time
    scales every count alike, so requests need not say when they happen.
    """
    params = params or PopularityParams()
    categories = categories or ServiceCategories.empty()
    service_ids = np.asarray(service_ids, dtype=np.int64)
    timestamps = np.asarray(timestamps, dtype=np.float64)
    index = IdIndex(np.concatenate([service_ids, categories.service_ids]))
    if reference_time is None:
        reference_time = float(timestamps.max()) if timestamps.size else 0.0
    age = np.maximum(reference_time - timestamps, 0.0)  # (n,)
    decay = 0.5 ** (age / params.half_life_seconds)
    types = np.asarray(types, dtype=np.int64)
    positions = index.positions(service_ids)[0]
    weights = type_weight_table(params.type_weights)[types] * decay
    counts = np.bincount(positions, weights=weights, minlength=len(index))  # (s,)
    popularity = _normalised(counts)
    type_counts = np.stack([np.bincount(positions[types == code], weights=decay[types == code], minlength=len(index))
                            for code in range(len(InteractionType))])  # (types, s)

    # One entry per (service, category), ordered by the service's row in the index.
    category_ids = np.unique(categories.category_ids)
    rows = np.repeat(index.positions(categories.service_ids)[0], np.diff(categories.indptr))  # (nnz,)
    by_row = np.argsort(rows, kind="stable")
    rows, category_positions = rows[by_row], np.searchsorted(category_ids, categories.category_ids)[by_row]
    return PopularityModel(params, float(reference_time), index.ids, popularity, category_ids,
                           row_lengths_to_indptr(np.bincount(rows, minlength=len(index))), category_positions,
                           _within_categories(popularity, rows, category_positions, category_ids.size), type_counts)


def _normalised(counts: np.ndarray) -> np.ndarray:
    """(s,) counts scaled so that the largest is 1."""
    return counts / counts.max() if counts.size and counts.max() > 0 else counts


def _within_categories(popularity: np.ndarray, rows: np.ndarray, category_positions: np.ndarray,
                       categories: int) -> np.ndarray:
    """(nnz,) each (service, category) entry's popularity over its category's best."""
    best_in_category = np.zeros(categories)
    np.maximum.at(best_in_category, category_positions, popularity[rows])
    best = best_in_category[category_positions]
    return np.divide(popularity[rows], best, out=np.zeros(rows.size), where=best > 0)


def objective_popularity(model: PopularityModel) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Objective → (popularity (s,), popularity in category (nnz,)); a version stored before
    objectives has one popularity for them all."""
    by_objective = {DEFAULT_OBJECTIVE: (model.popularity, model.popularity_in_category)}
    if model.type_counts is None:
        return dict.fromkeys(OBJECTIVES, by_objective[DEFAULT_OBJECTIVE])
    rows = np.repeat(np.arange(model.service_ids.size), np.diff(model.category_indptr))  # (nnz,)
    for objective in OBJECTIVES:
        if objective != DEFAULT_OBJECTIVE:
            popularity = _normalised(type_weight_table(model.hyperparameters.weights_of(objective)) @ model.type_counts)
            by_objective[objective] = (popularity, _within_categories(popularity, rows, model.category_positions,
                                                                      model.category_ids.size))
    return by_objective


class Popularity(FittedEngine):
    """The most popular candidates, leaning to the visitor's categories."""

    name = "Popularity"

    def __init__(self, model: PopularityModel | None = None):
        super().__init__(model)
        self.category_index = IdIndex(model.category_ids if model else np.empty(0, np.int64))
        self.type_weights = type_weight_table(model.hyperparameters.type_weights if model else {})  # (types,)
        self.by_objective = objective_popularity(model) if model else {}

    def _score(self, context: RecommendationContext, service_ids: np.ndarray) -> np.ndarray:
        positions, known = self.index.positions(service_ids)
        rows = positions[known]
        overall, in_category = np.zeros(service_ids.size), np.zeros(service_ids.size)  # (n,) each
        overall[known] = self.by_objective[context.objective][0][rows]
        values, _, row_of_entry = self._category_entries(context, rows)
        in_category[known] = segment_max(values, np.bincount(row_of_entry, minlength=rows.size))
        weight = self.model.hyperparameters.category_weight
        return (1.0 - weight) * overall + weight * in_category

    def _evidence(self, context: RecommendationContext, ids: np.ndarray, scores: np.ndarray) -> list[Evidence]:
        positions, known = self.index.positions(ids)
        values, entries, row_of_entry = self._category_entries(context, positions[known])
        best = np.full(ids.size, -1, dtype=np.int64)  # (n,) each id's best category entry
        best[known] = best_entry_per_group(values, row_of_entry, int(known.sum()))
        popularity, in_category = self.by_objective[context.objective]
        evidence = []
        for i, entry in enumerate(best):
            if entry >= 0 and values[entry] > 0:
                category = self.model.category_ids[self.model.category_positions[entries[entry]]]
                strength = in_category[entries[entry]]
                evidence.append(Evidence(EvidenceKind.POPULAR_IN_CATEGORY, category_id=int(category),
                                         strength=float(strength)))
            else:
                strength = popularity[positions[i]] if known[i] else 0.0
                evidence.append(Evidence(EvidenceKind.POPULAR, strength=float(strength)))
        return evidence

    def _category_entries(self, context: RecommendationContext, rows: np.ndarray):
        """The (service, category) entries of the given rows, valued by popularity in the
        category times the visitor's interest in it: (values, entries, row_of_entry), each (e,)."""
        entries, row_of_entry = gather_rows(self.model.category_indptr, rows)
        interest = self._category_interest(context)  # (g,)
        in_category = self.by_objective[context.objective][1]
        values = interest[self.model.category_positions[entries]] * in_category[entries]
        return values, entries, row_of_entry

    def _category_interest(self, context: RecommendationContext) -> np.ndarray:
        """(g,) float64 in [0, 1]: the visitor's categories from features, else from their interactions."""
        model = self.model
        interest = np.zeros(model.category_ids.size)
        declared = context.user_features.get("categories", ())
        if declared:
            positions, known = self.category_index.positions(np.array(declared))
            interest[positions[known]] = 1.0
            return interest
        events = context.interactions
        rows, known = self.index.positions(events.service_ids)
        entries, event_of_entry = gather_rows(model.category_indptr, rows[known])
        event_weights = self.type_weights[events.types[known].astype(np.int64)]
        interest += np.bincount(model.category_positions[entries], weights=event_weights[event_of_entry],
                                minlength=interest.size)
        return interest / interest.max() if interest.size and interest.max() > 0 else interest
