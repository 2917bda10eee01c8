"""A small marketplace whose users browse and order within their favourite category.

Three categories of five services each. Every user has a favourite category
and makes a few visits a week apart: each visit views several services of the
favourite category (now and then one of another), clicks one, sometimes puts
it in a project and orders it. Deterministic: one seeded generator draws all.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.engines import Interactions, InteractionType, ServiceCategories

DAY = 86_400.0
START = 1_700_000_000.0  # 2023-11-14
CATEGORY_NAMES = {1: "Compute", 2: "Storage", 3: "Data analysis"}
SERVICES_OF_CATEGORY = {1: (101, 102, 103, 104, 105), 2: (201, 202, 203, 204, 205), 3: (301, 302, 303, 304, 305)}
UNSEEN_SERVICES = (9001, 9002, 9003)  # eligible services nobody has touched yet


@dataclass
class ToyMarketplace:
    user_ids: np.ndarray  # (n,) int64, the sequence key of each interaction
    service_ids: np.ndarray  # (n,) int64
    types: np.ndarray  # (n,) int8
    timestamps: np.ndarray  # (n,) float64
    categories: ServiceCategories
    favourite_category: dict[int, int]  # user id → category id
    now: float

    @property
    def services(self) -> np.ndarray:
        """Every service of the catalogue that has been interacted with, sorted."""
        return np.unique(self.service_ids)

    def history_of(self, user_id: int) -> Interactions:
        mine = self.user_ids == user_id
        order = np.argsort(self.timestamps[mine], kind="stable")
        return Interactions(self.service_ids[mine][order], self.types[mine][order], self.timestamps[mine][order])


def service_names() -> dict[str, dict[int, str]]:
    """Names by dump key, as explanations take them."""
    services = {s: f"{CATEGORY_NAMES[c]} service {s}" for c, ids in SERVICES_OF_CATEGORY.items() for s in ids}
    return {"services": services, "categories": dict(CATEGORY_NAMES)}


def toy_marketplace(users: int = 60, visits: int = 3, seed: int = 7) -> ToyMarketplace:
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, int, int, float]] = []
    favourite = {user: int(rng.integers(1, 4)) for user in range(1, users + 1)}
    for user, category in favourite.items():
        for visit in range(visits):
            moment = START + visit * 7 * DAY + float(rng.uniform(0, 2 * DAY))
            rows.extend(_visit(rng, user, category, moment))
    user_ids, service_ids, types, timestamps = (np.array(column) for column in zip(*rows))
    categories = ServiceCategories.from_mapping(
        {s: [c] for c, ids in SERVICES_OF_CATEGORY.items() for s in ids}
    )
    return ToyMarketplace(user_ids.astype(np.int64), service_ids.astype(np.int64), types.astype(np.int8),
                          timestamps.astype(np.float64), categories, favourite, float(timestamps.max()) + 3600)


def _visit(rng, user: int, category: int, moment: float) -> list[tuple[int, int, int, float]]:
    """One visit: views in the favourite category (rarely a stray one), a click, maybe an order."""
    own = SERVICES_OF_CATEGORY[category]
    viewed = list(rng.choice(own, size=int(rng.integers(3, 5)), replace=False))
    if rng.random() < 0.2:
        other = SERVICES_OF_CATEGORY[1 + category % 3]
        viewed.insert(int(rng.integers(0, len(viewed))), int(rng.choice(other)))
    events = []
    for service in viewed:
        moment += float(rng.uniform(30, 300))
        events.append((user, int(service), InteractionType.VIEW, moment))
    chosen = int(viewed[-1])
    events.append((user, chosen, InteractionType.CLICK, moment + 20))
    if rng.random() < 0.5:
        events.append((user, chosen, InteractionType.CART, moment + 60))
        events.append((user, chosen, InteractionType.ORDER, moment + 120))
    return events
