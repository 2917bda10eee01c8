"""A snapshot as the simulator's marketplace: its recommendable services with their
embeddings, first category and domain and popularity; its users with their declared
features, the first part of their taken services as the history every policy sees,
and the last part (`held_out_share`) as what they would really take."""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

import numpy as np

from app.dump_contract import RECOMMENDABLE_STATUSES
from app.engines.rl import StateEncoder
from app.errors import DataRejected
from app.rl.simulator import SyntheticMarketplace


def _first(values) -> int:
    return int(values[0]) if values else -1  # -1: matches no user's category or domain


def split_taken(taken: list[int], held_out_share: float) -> tuple[list[int], list[int]]:
    """A user's taken services (time order) → what policies see, and the last `held_out_share` of them
    (at least one when there are two or more) as what the user would really take next."""
    later = min(len(taken) - 1, math.ceil(held_out_share * len(taken))) if taken else 0
    return taken[:len(taken) - later], taken[len(taken) - later:]


def _log_share(counts: np.ndarray) -> np.ndarray | None:
    """(s,) counts → log1p(count) / log1p(max count), in [0, 1]; None when nothing was taken."""
    top = counts.max(initial=0)
    return np.log1p(counts) / np.log1p(top) if top > 0 else None


def snapshot_marketplace(dump: Mapping, encoder: StateEncoder, held_out_share: float = 0.2) -> SyntheticMarketplace:
    """The snapshot's recommendable services and its users, as the simulator's marketplace: each user's
    taken services split into a visible history (never shown again, as serving leaves them out) and
    held-out ones they would take; popularity counts every taking."""
    services = sorted((s for s in dump["services"] if s.get("status") in RECOMMENDABLE_STATUSES),
                      key=lambda s: int(s["id"]))
    ids = np.array([int(s["id"]) for s in services], np.int64)
    embeddings, known = encoder.embeddings_of(ids)
    services, ids, embeddings = [s for s, k in zip(services, known) if k], ids[known], embeddings[known]
    if ids.size == 0:
        raise DataRejected("no recommendable service to train RL on", {"services": "none recommendable"})
    if not dump["users"]:  # a marketplace of anonymous visitors: the simulator has nobody to play
        raise DataRejected("no users to simulate visitors from", {"users": "none in the snapshot"})
    offered = set(ids.tolist())
    users = sorted(dump["users"], key=lambda u: int(u["id"]))
    taken = [list(dict.fromkeys(int(s) for s in u.get("accessed_services") or () if int(s) in offered))
             for u in users]
    visible, held_out = zip(*(split_taken(t, held_out_share) for t in taken))
    counts = Counter(s for t in taken for s in t)
    return SyntheticMarketplace(
        service_ids=ids, embeddings=embeddings.astype(np.float32),
        service_category=np.array([_first(s.get("categories")) for s in services], np.int64),
        service_domain=np.array([_first(s.get("scientific_domains")) for s in services], np.int64),
        user_categories=[tuple(int(c) for c in u.get("categories") or ()) for u in users],
        user_domain=np.array([_first(u.get("scientific_domains")) for u in users], np.int64),
        histories=[list(v) for v in visible], ordered=[set(v) for v in visible],
        held_out=[set(h) for h in held_out],
        popularity=_log_share(np.array([counts.get(int(s), 0) for s in ids], np.float64)))


def visible_popularity(marketplace: SyntheticMarketplace) -> dict[int, float]:
    """How many users took each service, counted on the histories policies see (not the held-out part)."""
    return dict(Counter(s for history in marketplace.histories for s in set(history)))


def user_split(users: int, evaluation_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training users, evaluation users) as sorted indices; with fewer than two users, all are both."""
    if users < 2:
        return np.arange(users), np.arange(users)
    order = np.random.default_rng(seed).permutation(users)
    held = min(users - 1, max(1, round(evaluation_share * users)))
    return np.sort(order[held:]), np.sort(order[:held])
