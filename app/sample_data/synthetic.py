"""A synthetic marketplace of any size, whose journeys follow users' interests.

Pure and deterministic: the same arguments always give the same dump, user
actions and events (one numpy generator, seeded once, draws everything, ids and
timestamps included). A user clicks a panel's service more often the more its
categories and scientific domains overlap the user's, and orders it more often
too, so a model trained on the result has a signal to find. The wire-format
builders at the top are shared with the MovieLens converter.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from app.dump_contract import DUMP_KEYS, RECOMMENDABLE_STATUSES

SERVICES_PAGE = "/services"


@dataclass
class MarketplaceData:
    """What a marketplace sends: a /update dump, /user_actions and /events payloads."""

    dump: dict
    user_actions: list[dict]
    events: list[dict]


def iso_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as the marketplace writes it."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "service"


def service_page_id(service_id: int, name: str, subpage: str | None = None) -> str:
    """`/services/<id>-<slug>[/<subpage>]`: the leading id lets a reader map a page to its service."""
    page = f"{SERVICES_PAGE}/{service_id}-{slugify(name)}"
    return f"{page}/{subpage}" if subpage else page


def user_action(*, unique_id: str, timestamp: datetime, source: tuple, target: tuple, action: tuple,
                user_id: int | None = None, root: dict | None = None) -> dict:
    """One /user_actions payload; `source`/`target` are (visit_id, page_id), `action` (type, text, order)."""
    payload = {
        "unique_id": unique_id,
        "timestamp": iso_timestamp(timestamp),
        "client_id": "marketplace",
        "source": {"visit_id": source[0], "page_id": source[1]},
        "target": {"visit_id": target[0], "page_id": target[1]},
        "action": {"type": action[0], "text": action[1], "order": action[2]},
    }
    if user_id is not None:
        payload["user_id"] = user_id
    if root is not None:
        payload["source"]["root"] = root
    return payload


def empty_dump() -> dict:
    """A dump with every required key present and empty."""
    return {key: [] for key in DUMP_KEYS}


def named_items(names, described: bool = False) -> list[dict]:
    """Vocabulary items with ids 1..n in the order given."""
    items = [{"id": i, "name": name} for i, name in enumerate(names, start=1)]
    if described:
        for item in items:
            item["description"] = None
    return items


CATEGORIES = ("Compute", "Storage", "Networking", "Data Analysis", "Data Management", "Training",
              "Security", "Sharing & Discovery", "Instruments", "Software", "Consultancy", "Other")
SCIENTIFIC_DOMAINS = ("Natural Sciences", "Engineering & Technology", "Medical & Health Sciences",
                      "Agricultural Sciences", "Social Sciences", "Humanities", "Earth Sciences",
                      "Physics", "Computer Science", "Generic")
PLATFORMS = ("EGI", "EUDAT", "OpenAIRE", "PRACE", "GEANT")
TARGET_USERS = ("Researchers", "Research groups", "Students", "Innovators", "Businesses")
ACCESS_MODES = ("Free", "Peer reviewed", "Paid")
ACCESS_TYPES = ("Remote", "Physical", "Virtual")
TRLS = tuple(f"trl-{level}" for level in range(1, 10))
LIFE_CYCLE_STATUSES = ("Alpha", "Beta", "Production", "Retired")
RESEARCH_STEPS = ("Design", "Collect", "Analyse", "Publish", "Preserve")
NAME_WORDS = ("Open", "Cloud", "Data", "Grid", "Compute", "Archive", "Notebook", "Sensor", "Atlas",
              "Portal", "Vault", "Stream", "Lab", "Hub", "Mesh", "Forge")
STATUSES = ("published", "unverified", "draft", "deleted")
STATUS_SHARES = (0.86, 0.06, 0.04, 0.04)
ORDER_TYPES = ("open_access", "fully_open_access", "order_required", "other")
BROWSE_SUBPAGES = ("details", "opinions", "information", "comparisons", "offers")
ORDER_SUBPAGES = ("offers", "configuration", "summary")
BASE_TIME = datetime(2024, 1, 1, tzinfo=UTC)
ANONYMOUS_SHARE = 0.15


def generate_marketplace(services: int = 200, users: int = 100, projects: int = 50,
                         journeys: int = 1000, seed: int = 0) -> MarketplaceData:
    """A marketplace of the given size: its dump, its users' journeys, their ratings."""
    sizes = {"services": services, "users": users, "projects": projects, "journeys": journeys}
    for name, value in sizes.items():
        if value < 0:
            raise ValueError(f"{name} must not be negative")
    if services < 1 and (journeys or projects):
        raise ValueError("journeys and projects need at least one service")
    rng = np.random.default_rng(seed)
    dump = _vocabularies(max(3, services // 8))
    service_topics = _Topics.draw(rng, services)
    user_topics = _Topics.draw(rng, users)
    dump["services"] = _services(rng, service_topics, len(dump["providers"]))
    popularity = rng.lognormal(0.0, 1.0, services)
    recommendable = np.array([s["status"] in RECOMMENDABLE_STATUSES for s in dump["services"]], dtype=bool)
    journeys_ = _Journeys(rng, dump["services"], service_topics, user_topics, popularity, recommendable)
    for _ in range(journeys):
        journeys_.walk()
    dump["users"] = [
        {"id": u + 1, "aai_uid": f"user{u + 1}@aai.example", "scientific_domains": user_topics.domain_ids(u),
         "categories": user_topics.category_ids(u), "accessed_services": journeys_.ordered_by(u + 1)}
        for u in range(users)
    ]
    dump["projects"] = _projects(rng, projects, dump["users"], services)
    actions = sorted(journeys_.actions, key=lambda a: a["timestamp"])
    ratings = sorted(journeys_.ratings, key=lambda e: e["timestamp"])
    return MarketplaceData(dump=dump, user_actions=actions, events=ratings)


def _vocabularies(providers: int) -> dict:
    dump = empty_dump()
    dump.update(
        categories=named_items(CATEGORIES), scientific_domains=named_items(SCIENTIFIC_DOMAINS),
        platforms=named_items(PLATFORMS), target_users=named_items(TARGET_USERS, described=True),
        access_modes=named_items(ACCESS_MODES, described=True),
        access_types=named_items(ACCESS_TYPES, described=True), trls=named_items(TRLS, described=True),
        life_cycle_statuses=named_items(LIFE_CYCLE_STATUSES, described=True),
        research_steps=named_items(RESEARCH_STEPS, described=True),
        providers=[{"id": i, "pid": f"provider.{i}", "name": f"Provider {i}"} for i in range(1, providers + 1)],
    )
    return dump


@dataclass
class _Topics:
    """Multi-hot category and scientific-domain memberships, one row per service or user."""

    categories: np.ndarray  # (rows, len(CATEGORIES)) bool
    domains: np.ndarray  # (rows, len(SCIENTIFIC_DOMAINS)) bool

    @classmethod
    def draw(cls, rng, rows: int) -> _Topics:
        return cls(_multi_hot(rng, rows, len(CATEGORIES), 3), _multi_hot(rng, rows, len(SCIENTIFIC_DOMAINS), 2))

    def category_ids(self, row: int) -> list[int]:
        return [int(i) + 1 for i in np.flatnonzero(self.categories[row])]

    def domain_ids(self, row: int) -> list[int]:
        return [int(i) + 1 for i in np.flatnonzero(self.domains[row])]


def _multi_hot(rng, rows: int, columns: int, most: int) -> np.ndarray:
    # A few topics are much more common than others, as in a real catalogue.
    weights = 1.0 / np.arange(1, columns + 1) ** 0.8
    weights = rng.permutation(weights / weights.sum())
    hot = np.zeros((rows, columns), dtype=bool)
    for row in range(rows):
        hot[row, rng.choice(columns, size=rng.integers(1, most + 1), replace=False, p=weights)] = True
    return hot


def _services(rng, topics: _Topics, providers: int) -> list[dict]:
    count = len(topics.categories)
    statuses = rng.choice(STATUSES, size=count, p=STATUS_SHARES)
    services = []
    for i in range(count):
        words = rng.choice(NAME_WORDS, size=2, replace=False)
        name = f"{words[0]} {words[1]} {i + 1}"
        related = rng.choice(count, size=min(count, int(rng.integers(0, 3))), replace=False) + 1
        provider = int(rng.integers(1, providers + 1))
        services.append({
            "id": i + 1, "pid": f"service.{i + 1}", "name": name,
            "description": f"{name}: {', '.join(CATEGORIES[c - 1] for c in topics.category_ids(i))}.",
            "tagline": f"{words[0]} {words[1]} for research", "countries": ["EU"],
            "order_type": str(rng.choice(ORDER_TYPES)), "rating": f"{rng.uniform(2.5, 5.0):.1f}",
            "horizontal": bool(rng.random() < 0.2), "status": str(statuses[i]),
            "categories": topics.category_ids(i), "providers": [provider], "resource_organisation": provider,
            "scientific_domains": topics.domain_ids(i), "platforms": [int(rng.integers(1, len(PLATFORMS) + 1))],
            "target_users": [int(rng.integers(1, len(TARGET_USERS) + 1))],
            "related_services": sorted(int(r) for r in related if r != i + 1), "required_services": [],
            "access_types": [int(rng.integers(1, len(ACCESS_TYPES) + 1))],
            "access_modes": [int(rng.integers(1, len(ACCESS_MODES) + 1))],
            "trls": [int(rng.integers(1, len(TRLS) + 1))],
            "life_cycle_statuses": [int(rng.integers(1, len(LIFE_CYCLE_STATUSES) + 1))],
            "research_steps": [int(rng.integers(1, len(RESEARCH_STEPS) + 1))],
        })
    return services


def _projects(rng, count: int, users: list[dict], services: int) -> list[dict]:
    projects = []
    for project_id in range(1, count + 1):
        if not users:
            break
        owner = users[int(rng.integers(len(users)))]
        taken = owner["accessed_services"]
        if taken:
            chosen = rng.choice(taken, size=int(rng.integers(1, len(taken) + 1)), replace=False)
        else:
            chosen = rng.choice(services, size=min(services, int(rng.integers(1, 4))), replace=False) + 1
        projects.append({"id": project_id, "user_id": owner["id"], "services": sorted(int(s) for s in chosen)})
    return projects


class _Journeys:
    """Walks visitors from a recommendation panel through service pages to orders."""

    def __init__(self, rng, services, service_topics, user_topics, popularity, recommendable):
        self.rng, self.services = rng, services
        self.service_topics, self.user_topics = service_topics, user_topics
        self.log_popularity = np.log(popularity)
        self.recommendable = recommendable
        self.user_sessions = [self._uuid() for _ in range(len(user_topics.categories))]
        self.actions: list[dict] = []
        self.ratings: list[dict] = []
        self.orders: dict[int, list[tuple[datetime, int]]] = {}
        # The journey being walked: who, when, and the page visit they are on.
        self.visitor: dict = {}
        self.moment = BASE_TIME
        self.page: tuple[str, str] = ("", SERVICES_PAGE)

    def _uuid(self) -> str:
        return str(uuid.UUID(bytes=self.rng.bytes(16), version=4))

    def _affinity(self, user: int) -> np.ndarray:
        """Topic overlap of every service with one user's interests: (services,) float."""
        categories = self.service_topics.categories.astype(float) @ self.user_topics.categories[user]
        domains = self.service_topics.domains.astype(float) @ self.user_topics.domains[user]
        return categories + 0.7 * domains

    def walk(self) -> None:
        """One journey: a panel click, some browsing, and for a logged-in user maybe an order."""
        rng, users = self.rng, len(self.user_sessions)
        user = None if users == 0 or rng.random() < ANONYMOUS_SHARE else int(rng.integers(users))
        affinity = np.zeros(len(self.services)) if user is None else self._affinity(user)
        service = self._clicked(affinity)
        if service is None:
            return
        item = self.services[service]
        self.visitor = {"unique_id": self._uuid() if user is None else self.user_sessions[user],
                        "user_id": None if user is None else user + 1}
        self.moment = BASE_TIME + timedelta(seconds=float(rng.uniform(0, 180 * 24 * 3600)))
        self.page = (self._uuid(), SERVICES_PAGE)
        root = {"type": "recommendation_panel", "panel_id": "v1" if rng.random() < 0.7 else "v2",
                "resource_type": "service", "resource_id": item["id"]}
        self._step(service_page_id(item["id"], item["name"]), ("link", item["name"], False), root)
        for _ in range(min(4, int(rng.poisson(1.2)))):
            subpage = str(rng.choice(BROWSE_SUBPAGES))
            self._step(service_page_id(item["id"], item["name"], subpage), ("link", subpage.title(), False))
        # The closer the service is to the user's interests, the likelier the order.
        if user is not None and rng.random() < 1.0 / (1.0 + np.exp(2.5 - 1.2 * affinity[service])):
            self._order(user + 1, item, affinity[service])

    def _clicked(self, affinity: np.ndarray) -> int | None:
        """Index of the service clicked in the panel: popular and close to the user's interests."""
        logits = np.where(self.recommendable, 1.5 * affinity + self.log_popularity, -np.inf)
        if not np.isfinite(logits).any():
            return None  # nothing recommendable to show
        chance = np.exp(logits - logits[np.isfinite(logits)].max())
        return int(self.rng.choice(len(self.services), p=chance / chance.sum()))

    def _order(self, user_id: int, item: dict, affinity: float) -> None:
        for subpage in ORDER_SUBPAGES:
            self._step(service_page_id(item["id"], item["name"], subpage), ("button", subpage.title(), False))
        self._step("/projects", ("button", "Order", True))
        self.orders.setdefault(user_id, []).append((self.moment, item["id"]))
        if self.rng.random() < 0.3:  # some users rate what they ordered, a few days later
            stars = int(np.clip(np.round(2.5 + 0.8 * affinity + self.rng.normal(0, 0.7)), 1, 5))
            self.ratings.append({"user_id": user_id, "service_id": item["id"], "type": "rating", "value": stars,
                                 "timestamp": iso_timestamp(self.moment + timedelta(days=2))})

    def _step(self, target_page: str, action: tuple, root: dict | None = None) -> None:
        """The visitor goes from the current page to `target_page` a little later."""
        self.moment += timedelta(seconds=int(self.rng.integers(3, 120)))
        target = (self._uuid(), target_page)
        self.actions.append(user_action(timestamp=self.moment, source=self.page, target=target, action=action,
                                        root=root, **self.visitor))
        self.page = target

    def ordered_by(self, user_id: int) -> list[int]:
        """The services a user ordered, first order first, each once."""
        seen: dict[int, None] = {}
        for _, service_id in sorted(self.orders.get(user_id, [])):
            seen.setdefault(service_id, None)
        return list(seen)
