"""A catalogue whose services share one category and one domain and look alike to the embeddings,
like the marketplace whose RL version learned nothing: only what users took tells services apart.
Services with higher ids are taken more often, so "the first candidates" are the least popular."""
from __future__ import annotations

import numpy as np

from app.rl.export import state_encoder

CATEGORY, DOMAIN = 7, 3


def taken_by_popularity(service_ids: list[int], users: int, seed: int = 0) -> list[list[int]]:
    """Each user's taken services, oldest first: 2 to 9 services, the chance of each rising with its id."""
    rng = np.random.default_rng(seed)
    weights = np.arange(1, len(service_ids) + 1, dtype=np.float64) ** 2
    weights /= weights.sum()
    return [[int(s) for s in rng.choice(service_ids, rng.integers(2, 10), replace=False, p=weights)]
            for _ in range(users)]


def one_category_dump(services: int = 60, users: int = 150, seed: int = 0) -> dict:
    """The services and users of such a marketplace (what the simulator reads of a dump)."""
    ids = list(range(1, services + 1))
    return {"services": [{"id": s, "status": "published", "categories": [CATEGORY], "scientific_domains": [DOMAIN]}
                         for s in ids],
            "users": [{"id": u, "categories": [CATEGORY], "scientific_domains": [DOMAIN], "accessed_services": taken}
                      for u, taken in enumerate(taken_by_popularity(ids, users, seed), start=1)]}


def alike_encoder(dump: dict, dim: int = 8):
    """The encoder an autoencoder gives services with the same features: one embedding for all."""
    ids = np.array([s["id"] for s in dump["services"]], np.int64)
    return state_encoder(ids, np.full((ids.size, dim), 0.3, np.float32),
                         {"categories": {int(s): [CATEGORY] for s in ids},
                          "scientific_domains": {int(s): [DOMAIN] for s in ids}})
