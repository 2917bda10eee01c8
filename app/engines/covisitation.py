"""Item-to-item co-visitation, learned from visitors' time-ordered interactions.

Two interactions of one visitor (or user) form a pair when they are at most
`events_ahead` places and `window_seconds` apart; orders also pair with later
orders up to `order_window_seconds` apart, since a second order rarely comes
in the same day. A pair A→B counts B's type weight (being ordered after A says
more than being viewed after A), halved every `pair_half_life_seconds` of age.
Each service keeps its `top_neighbours` strongest neighbours, scaled so that
its strongest is 1: every source then speaks with the same voice when a
visitor's recent services are summed.

The type weights are the order objective's; the click and cart objectives
(app/engines/interactions.py) weigh B's type their own way and keep their own
neighbours (what is clicked after A is not what is bought after A).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from app.engines.catalogue import IdIndex
from app.engines.csr import segment_max, top_per_row
from app.engines.fitted import FittedModel
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
class SessionParams:
    """How pairs are counted at fit time and how a visitor's events vote at request time."""

    window_seconds: float = DAY  # events further apart are not a pair
    events_ahead: int = 5  # each event pairs with up to this many following events of its sequence
    order_window_seconds: float = 14 * DAY  # orders pair with later orders up to this far apart
    top_neighbours: int = 20  # neighbours kept per service
    pair_half_life_seconds: float = 60 * DAY
    type_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TYPE_WEIGHTS))  # the order objective's
    recent_events: int = 30  # scoring reads a visitor's latest events, at most this many
    recent_half_life_events: float = 5.0  # an event this many places before the latest counts half
    # The other objectives' weights of a pair's second event (a version stored before objectives
    # existed gets these defaults, and serves every objective from its order neighbours).
    objective_type_weights: dict[str, dict[str, float]] = field(default_factory=other_objectives_weights)

    def weights_of(self, objective: str) -> Mapping[str, float]:
        """The type weights of a pair's second event for `objective`."""
        return objective_weights(objective, self.type_weights, self.objective_type_weights)


NEIGHBOUR_FIELDS = ("neighbour_indptr", "neighbour_positions", "neighbour_weights", "co_ordered_share")
OTHER_OBJECTIVES_FIELDS = tuple(f"{objective}_{name}" for objective in OBJECTIVES if objective != DEFAULT_OBJECTIVE
                                for name in NEIGHBOUR_FIELDS)


@dataclass(frozen=True, eq=False)
class Neighbours:
    """Each service's strongest co-visited services for one objective, CSR-shaped."""

    indptr: np.ndarray  # (s + 1,) int64: service i's neighbours are entries indptr[i]:indptr[i + 1]
    positions: np.ndarray  # (nnz,) int64 rows of service_ids, strongest first within a service
    weights: np.ndarray  # (nnz,) float64 in (0, 1], 1 for each service's strongest
    co_ordered_share: np.ndarray  # (nnz,) float64 in [0, 1]: the part of the weight from two orders


@dataclass(frozen=True, eq=False)
class SessionModel(FittedModel):
    """Each service's strongest co-visited services, CSR-shaped."""

    hyperparameters: SessionParams
    reference_time: float  # pair ages are measured from here
    service_ids: np.ndarray  # (s,) int64 sorted
    neighbour_indptr: np.ndarray  # (s + 1,) int64: service i's neighbours are entries indptr[i]:indptr[i + 1]
    neighbour_positions: np.ndarray  # (nnz,) int64 rows of service_ids, strongest first within a service
    neighbour_weights: np.ndarray  # (nnz,) float64 in (0, 1], 1 for each service's strongest
    co_ordered_share: np.ndarray  # (nnz,) float64 in [0, 1]: the part of the weight from two orders
    # The same for the click and the cart objectives; None in versions stored before objectives.
    click_neighbour_indptr: np.ndarray | None = None
    click_neighbour_positions: np.ndarray | None = None
    click_neighbour_weights: np.ndarray | None = None
    click_co_ordered_share: np.ndarray | None = None
    cart_neighbour_indptr: np.ndarray | None = None
    cart_neighbour_positions: np.ndarray | None = None
    cart_neighbour_weights: np.ndarray | None = None
    cart_co_ordered_share: np.ndarray | None = None

    optional_array_fields = OTHER_OBJECTIVES_FIELDS
    array_fields = ("service_ids", *NEIGHBOUR_FIELDS, *OTHER_OBJECTIVES_FIELDS)
    hyperparameters_class = SessionParams

    def neighbours(self, objective: str) -> Neighbours:
        """The neighbours that serve `objective` (the order objective's where a stored version has no others)."""
        prefix = "" if objective == DEFAULT_OBJECTIVE else f"{objective}_"
        arrays = [getattr(self, prefix + name, None) for name in NEIGHBOUR_FIELDS]
        if any(array is None for array in arrays):
            arrays = [getattr(self, name) for name in NEIGHBOUR_FIELDS]
        return Neighbours(*arrays)


def fit_session(sequence_keys: np.ndarray, service_ids: np.ndarray, types: np.ndarray, timestamps: np.ndarray,
                params: SessionParams | None = None, reference_time: float | None = None) -> SessionModel:
    """Fit from interactions: (n,) sequence keys (a visitor or user each, int64 or str), (n,) service
    ids, (n,) InteractionType codes, (n,) timestamps in seconds. Any order; `reference_time`
    defaults to the latest interaction."""
    params = params or SessionParams()
    keys, service_ids = np.asarray(sequence_keys), np.asarray(service_ids, dtype=np.int64)
    types, timestamps = np.asarray(types, dtype=np.int8), np.asarray(timestamps, dtype=np.float64)
    if reference_time is None:
        reference_time = float(timestamps.max()) if timestamps.size else 0.0
    index = IdIndex(service_ids)
    order = _latest_distinct_events(keys, service_ids, types, timestamps)
    rows = index.positions(service_ids[order])[0]
    n = len(index)
    tables = [type_weight_table(params.weights_of(objective)) for objective in OBJECTIVES]
    sums = _pair_weights(keys[order], rows, types[order], timestamps[order], n, params, reference_time, tables)
    by_objective = {objective: _strongest(total, ordered, n, params.top_neighbours)
                    for objective, (total, ordered) in zip(OBJECTIVES, sums)}
    others = {f"{objective}_{name}": array for objective, found in by_objective.items()
              if objective != DEFAULT_OBJECTIVE for name, array in zip(NEIGHBOUR_FIELDS, found)}
    return SessionModel(params, float(reference_time), index.ids, *by_objective[DEFAULT_OBJECTIVE], **others)


def _strongest(total: sp.csr_array, ordered: sp.csr_array, n: int, top: int) -> tuple[np.ndarray, ...]:
    """Each service's `top` strongest neighbours: (indptr, positions, weights scaled to the
    strongest, the share of each weight two orders made)."""
    # The share of each pair's weight that two orders made, aligned with `total`'s entries
    # (every ordered pair is also in `total`; both have sorted columns within a row).
    source_rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(total.indptr))  # (nnz,)
    ordered_rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(ordered.indptr))  # (nnz_ordered,)
    at = np.searchsorted(source_rows * n + total.indices, ordered_rows * n + ordered.indices)
    share = np.zeros(total.nnz)
    share[at] = ordered.data / total.data[at]

    kept, indptr = top_per_row(source_rows, total.data, n, top)
    weights = total.data[kept]
    strongest = segment_max(weights, np.diff(indptr), empty=1.0)  # (s,)
    weights = weights / np.repeat(strongest, np.diff(indptr))
    return indptr, total.indices[kept].astype(np.int64), weights, share[kept]


def _latest_distinct_events(keys, service_ids, types, timestamps) -> np.ndarray:
    """Positions of each sequence's last event per (service, type), in (sequence, time) order.

    Repeats (the same page viewed five times) would otherwise count one pair many times.
    """
    by_event = np.lexsort((timestamps, types, service_ids, keys))
    k, s, t = keys[by_event], service_ids[by_event], types[by_event]
    last = np.ones(by_event.size, dtype=bool)
    last[:-1] = (k[1:] != k[:-1]) | (s[1:] != s[:-1]) | (t[1:] != t[:-1])
    kept = by_event[last]
    return kept[np.lexsort((timestamps[kept], keys[kept]))]


def _pair_weights(keys, rows, types, timestamps, n: int, params: SessionParams, reference_time: float,
                  tables: list[np.ndarray]) -> list[tuple[sp.csr_array, sp.csr_array]]:
    """Summed pair weights under each of `tables` (type weight tables: a pair weighs its second
    event's type), as two (s, s) CSR matrices each: all pairs, and those of two orders. The
    pairs of each offset are found once for every table; each table's sums are added in the
    same order as with one table alone."""
    is_order = types == InteractionType.ORDER
    sums = [(sp.csr_array((n, n)), sp.csr_array((n, n))) for _ in tables]
    passes = [(np.arange(keys.size), -np.inf, params.window_seconds),
              (np.flatnonzero(is_order), params.window_seconds, params.order_window_seconds)]
    for members, min_gap, max_gap in passes:
        k, r, t, ty = keys[members], rows[members], timestamps[members], types[members].astype(np.int64)
        is_order_here = is_order[members]
        for offset in range(1, params.events_ahead + 1):
            first = np.arange(max(k.size - offset, 0))
            second = first + offset
            gap = t[second] - t[first]
            pair = (k[first] == k[second]) & (r[first] != r[second]) & (gap > min_gap) & (gap <= max_gap)
            first, second = first[pair], second[pair]
            decay = np.tile(0.5 ** (np.maximum(reference_time - t[second], 0.0) / params.pair_half_life_seconds), 2)
            # Both directions: A→B weighs B's type, B→A weighs A's.
            sources = np.concatenate([r[first], r[second]])
            targets = np.concatenate([r[second], r[first]])
            second_types = np.concatenate([ty[second], ty[first]])
            both_orders = np.tile(is_order_here[first] & is_order_here[second], 2)
            for at, table in enumerate(tables):
                weights = table[second_types] * decay
                total, ordered = sums[at]
                sums[at] = (total + sp.csr_array((weights, (sources, targets)), shape=(n, n)),
                            ordered + sp.csr_array((weights[both_orders], (sources[both_orders],
                                                                           targets[both_orders])), shape=(n, n)))
    for total, ordered in sums:
        for matrix in (total, ordered):
            matrix.eliminate_zeros()  # a pair so old its weight underflowed, or of a type weighted 0
            matrix.sum_duplicates()  # also sorts each row's columns, which _strongest's alignment relies on
    return sums
