"""Session: services co-visited with what this visitor did last, anonymous visitors included.

The visitor's latest events (the request's session, then their history) each
vote for their co-visited neighbours, weighted by the event's type and by how
recent it is. A visitor with no known events gets nothing rather than a guess:
the caller falls back to another engine. Each objective (the next click, cart or
order) votes with its own neighbours.
"""
from __future__ import annotations

import numpy as np

from app.engines.base import Evidence, EvidenceKind, RecommendationContext
from app.engines.covisitation import Neighbours, SessionModel, SessionParams, fit_session
from app.engines.csr import best_entry_per_group, gather_rows
from app.engines.fitted import FittedEngine
from app.engines.interactions import OBJECTIVES, type_weight_table

__all__ = ["Session", "SessionModel", "SessionParams", "fit_session"]


class Session(FittedEngine):
    """Co-visitation of the visitor's recent services."""

    name = "Session"

    def __init__(self, model: SessionModel | None = None):
        super().__init__(model)
        self.type_weights = type_weight_table(model.hyperparameters.type_weights if model else {})  # (types,)
        self.by_objective: dict[str, Neighbours] = {o: model.neighbours(o) for o in OBJECTIVES} if model else {}

    def _score(self, context: RecommendationContext, service_ids: np.ndarray) -> np.ndarray:
        neighbours = self.by_objective[context.objective]
        entries, _, contributions, _ = self._votes(context, neighbours)
        targets = neighbours.positions[entries]
        votes = np.bincount(targets, weights=contributions, minlength=len(self.index))  # (s,)
        return self.index.gather(votes, service_ids)

    def _evidence(self, context: RecommendationContext, ids: np.ndarray, scores: np.ndarray) -> list[Evidence]:
        neighbours = self.by_objective[context.objective]
        entries, event_of_entry, contributions, sources = self._votes(context, neighbours)
        positions, known = self.index.positions(ids)
        slot_of_row = np.full(len(self.index), -1, dtype=np.int64)  # (s,) where each chosen id stands
        slot_of_row[positions[known]] = np.flatnonzero(known)
        slots = slot_of_row[neighbours.positions[entries]]  # (e,)
        mine = slots >= 0
        best = best_entry_per_group(contributions[mine], slots[mine], ids.size)
        entries, event_of_entry = entries[mine], event_of_entry[mine]
        evidence = []
        for entry in best:
            if entry < 0:  # only a ranking caller would ask about an id nobody voted for
                evidence.append(Evidence(EvidenceKind.CO_VISITED))
                continue
            neighbour = entries[entry]
            ordered = neighbours.co_ordered_share[neighbour] >= 0.5  # most of the pair's weight is two orders
            kind = EvidenceKind.CO_ORDERED if ordered else EvidenceKind.CO_VISITED
            evidence.append(Evidence(kind, service_id=int(sources[event_of_entry[entry]]),
                                     strength=float(neighbours.weights[neighbour])))
        return evidence

    def _votes(self, context: RecommendationContext, neighbours: Neighbours):
        """Every (recent event, neighbour) vote: `entries` (e,) into the neighbour arrays,
        `event_of_entry` (e,), `contributions` (e,) float64, and the events' service ids."""
        params = self.model.hyperparameters
        events = context.interactions
        latest = slice(max(len(events) - params.recent_events, 0), None)
        service_ids, types = events.service_ids[latest], events.types[latest].astype(np.int64)
        places_back = np.arange(service_ids.size)[::-1]  # 0 for the latest event
        event_weights = self.type_weights[types] * 0.5 ** (places_back / params.recent_half_life_events)
        rows, known = self.index.positions(service_ids)
        entries, event_of_entry = gather_rows(neighbours.indptr, rows[known])
        contributions = event_weights[known][event_of_entry] * neighbours.weights[entries]
        return entries, event_of_entry, contributions, service_ids[known]
