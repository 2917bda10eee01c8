"""A synthetic marketplace for cold start and evaluation: users react to panels with journeys.

Services have a category, a scientific domain and an embedding. Users declare
categories and a domain and carry a history. A shown service's appeal to a user
(the logit of a click, `Preferences`) adds up:
- the service is one the user really took later (`held_out`: from a snapshot, the
  last part of each user's taken services, which no policy sees);
- the cosine between the service and the mean of the user's recent history (taste);
- its popularity (share of users who took it, log-scaled to [0, 1]);
- overlap with the user's categories and domain, counted only where the catalogue
  has more than one of them: on a one-category catalogue that term is the same for
  every service and would only move every click rate at once.
So a catalogue whose services share one category and look alike to the embeddings
still separates policies: by what users took and how popular it is.

Appeal sets how far the journey from clicking goes: the service page, details,
offers, configuration, summary, an order. Journeys are page sequences in the wire
format, scored by the same reward table and SARS builder as real ones, so
simulated and real rewards mean the same thing.

Paired episodes: the visitor of episode i, the request's seed and the random numbers
of its journeys depend only on (seed, i), not on the policy, so two policies run
with the same seed meet the same visitors with common random numbers and the
difference of their rewards per episode has a tight interval (app/rl/ope.py).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from app.engines.rl import StateEncoder
from app.rl.export import state_encoder
from app.rl.rewards import RewardTable, journey_reward, load_reward_table
from app.rl.sars import SarsBatch, build_sars

# The pages after the service page, deeper is more interest; the last step is the order.
DEEPER_PAGES = ("details", "offers", "configuration", "summary")


@dataclass(frozen=True)
class PanelRequest:
    """What a policy sees when asked for a panel."""

    user_id: int
    user_features: Mapping[str, tuple[int, ...]]
    history: tuple[int, ...]  # service ids, oldest first
    candidates: np.ndarray  # (c,) int64 eligible service ids (ordered ones left out)
    k: int
    seed: int  # for stochastic policies


Policy = Callable[[PanelRequest], tuple[np.ndarray, np.ndarray]]  # → (K,) ids, (K,) logging propensities


@dataclass(frozen=True)
class Preferences:
    """What a simulated visitor's appeal for a service (the logit of a click) adds up."""

    will_take: float = 3.0  # the service is among the user's held-out taken services
    taste: float = 1.5  # × cosine to the mean of the user's last 10 services
    popularity: float = 1.0  # × log-scaled share of users who took it, in [0, 1]
    category: float = 2.0  # the service's category is one of the user's (only on a many-category catalogue)
    domain: float = 1.0  # the service's domain is the user's (only on a many-domain catalogue)
    bias: float = -2.5


@dataclass(eq=False)
class SyntheticMarketplace:
    """Services and users of the simulation; `histories` grow as users click."""

    service_ids: np.ndarray  # (s,) int64
    embeddings: np.ndarray  # (s, d) float32
    service_category: np.ndarray  # (s,) int64
    service_domain: np.ndarray  # (s,) int64
    user_categories: list[tuple[int, ...]]  # per user
    user_domain: np.ndarray  # (u,) int64
    histories: list[list[int]]
    ordered: list[set[int]] = field(default_factory=list)  # never shown again: orders, and services already taken
    held_out: list[set[int]] = field(default_factory=list)  # per user, what they would really take; may be empty
    popularity: np.ndarray | None = None  # (s,) float64 in [0, 1]; None: no popularity term
    preferences: Preferences = field(default_factory=Preferences)

    def features(self, user: int) -> dict[str, tuple[int, ...]]:
        """The user's declared features, as a request carries them."""
        return {"categories": self.user_categories[user], "scientific_domains": (int(self.user_domain[user]),)}

    def encoder(self, history_length: int = 10) -> StateEncoder:
        """The state encoder of this catalogue."""
        ids = self.service_ids.tolist()
        return state_encoder(self.service_ids, self.embeddings, {
            "categories": {s: [int(c)] for s, c in zip(ids, self.service_category)},
            "scientific_domains": {s: [int(d)] for s, d in zip(ids, self.service_domain)}}, history_length)

    @cached_property
    def _telling_facets(self) -> tuple[bool, bool]:
        """Whether categories, and domains, differ between services (else they tell no service apart)."""
        return np.unique(self.service_category).size > 1, np.unique(self.service_domain).size > 1

    def appeal(self, user: int, service_rows: np.ndarray, history: Sequence[int] | None = None) -> np.ndarray:
        """(n,) rows → (n,) float64 appeal (see Preferences); closeness is to the user's current history
        unless one is given."""
        weights, (categories_tell, domains_tell) = self.preferences, self._telling_facets
        appeal = np.full(service_rows.size, weights.bias)
        if categories_tell:
            appeal += weights.category * np.isin(self.service_category[service_rows], self.user_categories[user])
        if domains_tell:
            appeal += weights.domain * (self.service_domain[service_rows] == self.user_domain[user])
        history = self.histories[user] if history is None else history
        history_rows = np.searchsorted(self.service_ids, list(history)[-10:])
        if history_rows.size:
            centre = self.embeddings[history_rows].mean(axis=0)
            vectors = self.embeddings[service_rows]
            closeness = vectors @ centre / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(centre) + 1e-9)
            appeal += weights.taste * closeness
        if self.held_out and self.held_out[user]:
            appeal += weights.will_take * np.isin(self.service_ids[service_rows], list(self.held_out[user]))
        if self.popularity is not None:
            appeal += weights.popularity * self.popularity[service_rows]
        return appeal


def synthetic_marketplace(users: int = 200, services: int = 40, categories: int = 5, domains: int = 4,
                          dim: int = 8, history: int = 3, seed: int = 0) -> SyntheticMarketplace:
    """A seeded marketplace; each user's history is drawn from their own categories."""
    rng = np.random.default_rng(seed)
    category_centre, domain_centre = rng.normal(size=(categories, dim)), rng.normal(size=(domains, dim))
    service_category, service_domain = rng.integers(0, categories, services), rng.integers(0, domains, services)
    embeddings = np.tanh(category_centre[service_category] + 0.5 * domain_centre[service_domain]
                         + 0.3 * rng.normal(size=(services, dim))).astype(np.float32)
    service_ids = np.arange(1, services + 1, dtype=np.int64) * 10
    user_categories, histories = [], []
    for _ in range(users):
        mine = tuple(sorted(int(c) for c in rng.choice(categories, rng.integers(1, 3), replace=False)))
        pool = service_ids[np.isin(service_category, mine)]
        user_categories.append(mine)
        histories.append([int(s) for s in rng.choice(pool, min(history, pool.size), replace=False)])
    return SyntheticMarketplace(service_ids, embeddings, service_category, service_domain, user_categories,
                                rng.integers(0, domains, users), histories, [set() for _ in range(users)])


def _journey(service_id: int, appeal: float, rng: np.random.Generator) -> dict | None:
    """The branch a user walks from a panel click on the service (None: no click)."""
    if rng.random() >= 1.0 / (1.0 + np.exp(-appeal)):
        return None
    slug = f"/services/s{service_id}"
    root = {"type": "recommendation_panel", "resource_type": "service", "resource_id": service_id}
    nodes = [{"action": {"source": {"page_id": "/services", "root": root}, "target": {"page_id": slug},
                         "action": {"order": False}}, "children": []}]
    page = slug
    for depth, sub_page in enumerate((*DEEPER_PAGES, None), start=1):
        if rng.random() >= 1.0 / (1.0 + np.exp(-(appeal - 0.4 * depth))):
            break
        target = f"{slug}/{sub_page}" if sub_page else "/projects"
        node = {"action": {"source": {"page_id": page}, "target": {"page_id": target},
                           "action": {"order": sub_page is None}}, "children": []}
        nodes[-1]["children"].append(node)
        nodes.append(node)
        page = target
    return nodes[0]


@dataclass(frozen=True, eq=False)
class Simulation:
    """What a policy's panels earned."""

    batch: SarsBatch
    requests: list[PanelRequest]  # the context of each row, for off-policy evaluation
    mean_reward: float  # mean combined reward per panel

    @property
    def panel_rewards(self) -> np.ndarray:
        """(episodes,) combined reward of each panel, in episode order."""
        return self.batch.rewards

    @property
    def mean_item_reward(self) -> float:
        return float(self.batch.item_rewards.mean())


def simulate_panels(policy: Policy, marketplace: SyntheticMarketplace, episodes: int, k: int = 3, seed: int = 0,
                    table: RewardTable | None = None, encoder: StateEncoder | None = None,
                    users: np.ndarray | None = None) -> Simulation:
    """Ask `policy` for `episodes` panels for random users of `marketplace` (among `users`, all by default;
    the marketplace changes: histories grow with clicks, orders leave the candidates) and score the
    journeys that follow. Visitors and random numbers depend on (seed, episode) only: see the module."""
    table = table or load_reward_table()
    encoder = encoder or marketplace.encoder()
    visitors = np.random.default_rng(seed)
    pool = np.arange(len(marketplace.histories)) if users is None else np.asarray(users, np.int64)
    rows, requests = [], []
    for episode in range(episodes):
        user = int(pool[visitors.integers(pool.size)])
        candidates = marketplace.service_ids[~np.isin(marketplace.service_ids, list(marketplace.ordered[user]))]
        request = PanelRequest(user, marketplace.features(user), tuple(marketplace.histories[user]), candidates, k,
                               int(visitors.integers(2**31)))
        shown, propensities = policy(request)
        appeal = marketplace.appeal(user, np.searchsorted(marketplace.service_ids, shown))
        # Each slot's journey draws from its own stream: common random numbers for every policy.
        branches = [b for slot, (s, a) in enumerate(zip(shown.tolist(), appeal))
                    if (b := _journey(s, a, np.random.default_rng([seed, episode, slot]))) is not None]
        record = {"service_ids": shown.tolist(), "probabilities": np.asarray(propensities).tolist()}
        sars = build_sars(record, branches, request.history, encoder, table, k=k, user_features=request.user_features)
        rows.append(sars)
        requests.append(request)
        clicked = [int(b["action"]["source"]["root"]["resource_id"]) for b in branches]
        marketplace.histories[user].extend(clicked)
        marketplace.ordered[user].update(int(s) for s, r in zip(shown, sars.item_rewards) if r >= 1.0)
    batch = SarsBatch.from_sars(rows)
    return Simulation(batch, requests, float(batch.rewards.mean()))


def expected_item_rewards(marketplace: SyntheticMarketplace, request: PanelRequest, shown: np.ndarray,
                          table: RewardTable, draws: int = 8, seed: int = 0) -> np.ndarray:
    """(K,) Monte Carlo mean reward of each shown service in the request's context (its user and history
    then): the truth an off-policy estimate from logged requests should find."""
    rng = np.random.default_rng(seed)
    appeal = marketplace.appeal(request.user_id, np.searchsorted(marketplace.service_ids, shown), request.history)
    return np.array([np.mean([journey_reward(b, table) if (b := _journey(int(s), a, rng)) else 0.0
                              for _ in range(draws)]) for s, a in zip(shown, appeal)])


def training_batch(real: SarsBatch | None, simulated_fill_threshold: int, marketplace: SyntheticMarketplace,
                   policy: Policy, k: int = 3, seed: int = 0) -> SarsBatch:
    """The real transitions, topped up with simulated ones when there are fewer than the threshold."""
    have = 0 if real is None else len(real)
    if have >= simulated_fill_threshold:
        return real
    simulated = simulate_panels(policy, marketplace, simulated_fill_threshold - have, k, seed).batch
    return simulated if real is None else SarsBatch.concatenate([real, simulated])
