"""What a training run learns from, extracted from a marketplace dump as compact arrays.

Users and services get compact rows (0..u-1, 0..s-1) through sorted id arrays,
whatever the size of the marketplace's ids. Interactions are (user row, service
row, order) triples, where `order` sorts one user's interactions in time.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from app.dump_contract import RECOMMENDABLE_STATUSES
from app.engines.catalogue import IdIndex
from app.training.features import MultiHotEncoder, service_encoder, user_encoder


@dataclass(frozen=True, eq=False)
class InteractionData:
    """Users, services, their features and who took what, in compact rows."""

    users: IdIndex  # (u,) user ids; row r is users.ids[r]
    services: IdIndex  # (s,) service ids
    recommendable: np.ndarray  # (s,) bool
    user_encoder: MultiHotEncoder
    service_encoder: MultiHotEncoder
    user_features: np.ndarray  # (u, fu) float32 multi-hot
    service_features: np.ndarray  # (s, fs) float32 multi-hot
    user_rows: np.ndarray  # (n,) int64
    service_rows: np.ndarray  # (n,) int64
    order: np.ndarray  # (n,) float64, increasing in time within a user

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_services(self) -> int:
        return len(self.services)


def interaction_data(dump: Mapping, user_ids: np.ndarray, service_ids: np.ndarray, order: np.ndarray,
                     recommendable_statuses: tuple[str, ...] = RECOMMENDABLE_STATUSES) -> InteractionData:
    """The dump's users and services with the given interactions ((n,) ids and (n,) times or
    positions); interactions naming a user or service missing from the dump are dropped."""
    users = sorted(dump["users"], key=lambda u: int(u["id"]))
    services = sorted(dump["services"], key=lambda s: int(s["id"]))
    user_index = IdIndex(np.array([u["id"] for u in users], dtype=np.int64))
    service_index = IdIndex(np.array([s["id"] for s in services], dtype=np.int64))
    user_rows, user_known = user_index.positions(np.asarray(user_ids, dtype=np.int64))
    service_rows, service_known = service_index.positions(np.asarray(service_ids, dtype=np.int64))
    kept = user_known & service_known
    users_encoder, services_encoder = user_encoder(users), service_encoder(services)
    return InteractionData(
        users=user_index, services=service_index,
        recommendable=np.array([s.get("status") in recommendable_statuses for s in services], dtype=bool),
        user_encoder=users_encoder, service_encoder=services_encoder,
        user_features=users_encoder.encode(users), service_features=services_encoder.encode(services),
        user_rows=user_rows[kept], service_rows=service_rows[kept],
        order=np.asarray(order, dtype=np.float64)[kept],
    )


def interaction_data_from_dump(dump: Mapping,
                               recommendable_statuses: tuple[str, ...] = RECOMMENDABLE_STATUSES) -> InteractionData:
    """Interactions from the users' `accessed_services`, whose list order is the order they were taken in."""
    user_ids, service_ids, order = [], [], []
    for user in dump["users"]:
        accessed = list(dict.fromkeys(int(s) for s in user.get("accessed_services") or ()))  # first taking counts
        user_ids += [int(user["id"])] * len(accessed)
        service_ids += accessed
        order += range(len(accessed))
    return interaction_data(dump, np.array(user_ids, dtype=np.int64), np.array(service_ids, dtype=np.int64),
                            np.array(order, dtype=np.float64), recommendable_statuses)
