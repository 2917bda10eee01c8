"""Similar: services like the one the visitor is looking at (the request's context service).

Two voices, added:
- co-visitation: the context service's neighbours in the active Session model
  (app/engines/covisitation.py), strongest first; a pair made mostly of two orders
  counts `1 + co_ordered_bonus` times;
- content: Jaccard overlap of categories, scientific domains and providers, and
  the cosine of the TF-IDF of name, tagline and description
  (app/engines/content.py), weighted.

A service's strongest co-visited neighbour scores `covisitation_weight` (1) before its
content, and content alone scores at most the sum of its weights (1): a strong
co-visitation outranks a mere content match, a weak one does not. A service nobody
has visited yet has no neighbours, and still gets similar services from content.
Without a context service the engine has no reason to recommend anything and
returns nothing, so the caller's chain answers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from app.engines.base import Engine, Evidence, EvidenceKind, RecommendationContext
from app.engines.content import ServiceContent
from app.engines.covisitation import SessionModel


@dataclass(frozen=True)
class SimilarParams:
    """How much each reason weighs."""

    covisitation_weight: float = 1.0  # what the context service's strongest neighbour scores
    co_ordered_bonus: float = 1.0  # a pair of two orders counts this much more than a pair of views
    content_weights: dict[str, float] = field(default_factory=lambda: {
        "categories": 0.35, "scientific_domains": 0.15, "providers": 0.15, "text": 0.35})


# Which evidence each content reason gives.
_CONTENT_EVIDENCE = {
    "categories": EvidenceKind.SAME_CATEGORY,
    "scientific_domains": EvidenceKind.SAME_SCIENTIFIC_DOMAIN,
    "providers": EvidenceKind.SAME_PROVIDER,
    "text": EvidenceKind.SIMILAR_DESCRIPTION,
}


@dataclass(frozen=True, eq=False)
class Reasons:
    """Each reason's contribution to every catalogue service's score, for one context service."""

    service_id: int  # the context service
    row: int  # its content row, -1 when the catalogue lacks it
    covisitation: np.ndarray  # (s,) float64 by content row
    co_ordered: np.ndarray  # (s,) bool: the co-visitation is mostly two orders
    content: dict[str, np.ndarray]  # reason → (s,) float64 weighted contribution

    @property
    def total(self) -> np.ndarray:
        scores = self.covisitation + sum(self.content.values())
        if self.row >= 0:
            scores[self.row] = 0.0  # a service is not like itself for this purpose
        return scores


class SimilarServices(Engine):
    """Services like the context service: its co-visited neighbours and its look-alikes."""

    name = "Similar"

    def __init__(self, content: ServiceContent | None, neighbours: SessionModel | None = None,
                 params: SimilarParams | None = None):
        self.content = content
        self.neighbours = neighbours
        self.params = params or SimilarParams()
        # The reasons depend on the context service alone: _evidence reuses _score's.
        self._last: Reasons | None = None
        if content is not None and neighbours is not None:
            # Session rows → content rows (services the catalogue no longer has are dropped).
            self._content_row_of_neighbour, self._neighbour_in_catalogue = content.index.positions(
                neighbours.service_ids)

    @property
    def ready(self) -> bool:
        return self.content is not None

    def reasons(self, service_id: int) -> Reasons:
        """Every reason why each catalogue service is like `service_id`."""
        s = len(self.content)
        rows, known = self.content.index.positions(np.array([service_id]))
        row = int(rows[0]) if known[0] else -1
        covisitation, co_ordered = np.zeros(s), np.zeros(s, dtype=bool)
        if self.neighbours is not None:
            self._add_neighbours(service_id, covisitation, co_ordered)
        content = {}
        if row >= 0:
            similarities = self.content.similarities(row)
            content = {name: weight * similarities[name] for name, weight in self.params.content_weights.items()
                       if weight and name in similarities}
        return Reasons(service_id, row, covisitation, co_ordered, content)

    def _add_neighbours(self, service_id: int, covisitation: np.ndarray, co_ordered: np.ndarray) -> None:
        model = self.neighbours
        position = int(np.searchsorted(model.service_ids, service_id))
        if position == model.service_ids.size or model.service_ids[position] != service_id:
            return  # nobody has visited it with anything else yet
        entries = np.arange(model.neighbour_indptr[position], model.neighbour_indptr[position + 1])
        entries = entries[self._neighbour_in_catalogue[model.neighbour_positions[entries]]]
        targets = self._content_row_of_neighbour[model.neighbour_positions[entries]]
        share = model.co_ordered_share[entries]
        covisitation[targets] = (self.params.covisitation_weight * model.neighbour_weights[entries]
                                 * (1.0 + self.params.co_ordered_bonus * share))
        co_ordered[targets] = share >= 0.5

    def _reasons_of(self, context: RecommendationContext) -> Reasons | None:
        if context.context_service_id is None:
            return None
        last = self._last  # one read: another thread may replace it meanwhile
        if last is not None and last.service_id == context.context_service_id:
            return last
        self._last = found = self.reasons(int(context.context_service_id))
        return found

    def _score(self, context: RecommendationContext, service_ids: np.ndarray) -> np.ndarray:
        reasons = self._reasons_of(context)
        if reasons is None:
            return np.zeros(service_ids.size)
        return self.content.index.gather(reasons.total, service_ids)

    def _evidence(self, context: RecommendationContext, ids: np.ndarray, scores: np.ndarray) -> list[Evidence]:
        # Only ids with a positive score come here: a context service, and rows of the catalogue.
        reasons = self._reasons_of(context)
        rows, _ = self.content.index.positions(ids)
        return [self._why(reasons, int(row)) for row in rows]

    def _why(self, reasons: Reasons, row: int) -> Evidence:
        """The strongest reason for the service in `row`."""
        context_id = reasons.service_id
        strongest, strength = "covisitation", float(reasons.covisitation[row])
        for name, contribution in reasons.content.items():
            if contribution[row] > strength:
                strongest, strength = name, float(contribution[row])
        if strongest == "covisitation":
            kind = EvidenceKind.CO_ORDERED if reasons.co_ordered[row] else EvidenceKind.CO_VISITED
            return Evidence(kind, service_id=context_id, strength=strength)
        category = None
        if strongest == "categories" and reasons.row >= 0:
            shared = self.content.shared("categories", reasons.row, row)
            category = int(shared[0]) if shared.size else None
        return Evidence(_CONTENT_EVIDENCE[strongest], service_id=context_id, category_id=category, strength=strength)
