"""What benchmarks/replay.py sends for each rating of the stream, and what it counts.

Pure: payloads in, hit counts out. For each replayed rating the marketplace first asks
for recommendations on the page where the user went on to the movie (the `/services`
listing): a v1 panel (3 services) under the listing's visit, and a list of 10 (`k`)
under no visit. Then it sends the rating:
- 4 stars or more (a service the user took): a journey of two user actions, the click
  from the listing to the service's page (from the panel, `source.root` of type
  `recommendation_panel`, when the panel showed it; otherwise from the plain list, type
  `other`) and the order from the service's page;
- fewer stars: a `rating` event with the stars as value.
The same requests with an `engine_version` ask each engine what it would have answered;
they carry `client_id` "undefined" and no visit, so nothing links them to a journey.

Timestamps are the replay's wall clock, in the stream's order: the service counts new
interactions for retraining by their `timestamp` since a model's activation, which
historical times would never reach.
"""
from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from benchmarks.replay_data import Rating

SERVICES_PAGE = "/services"
PANEL_SIZE = 3
LIST_SIZE = 10
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "marketrec:benchmarks/replay")


def iso(moment: datetime) -> str:
    """ISO 8601 with milliseconds, as the marketplace writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def session_id(user_id: int) -> str:
    """The browser session (`unique_id`) of a user: one per user, the same on every run."""
    return str(uuid.uuid5(NAMESPACE, f"user/{user_id}"))


def visit_id(position: int, step: str) -> str:
    """A page visit of the `position`-th replayed rating (`listing`, `page` or `order`)."""
    return str(uuid.uuid5(NAMESPACE, f"visit/{position}/{step}"))


def recommendation_requests(rating: Rating, position: int, moment: datetime,
                            engine: str | None = None) -> tuple[dict, dict]:
    """The v1 panel and the list of 10 asked before `rating`; with `engine`, the probe of that engine."""
    common = {"user_id": rating.user_id, "unique_id": session_id(rating.user_id), "timestamp": iso(moment),
              "page_id": SERVICES_PAGE, "search_data": {}}
    if engine is None:
        panel = {**common, "client_id": "marketplace", "visit_id": visit_id(position, "listing"), "panel_id": "v1"}
        listing = {**common, "client_id": "marketplace", "visit_id": None, "panel_id": "v1", "k": LIST_SIZE}
    else:
        probe = {**common, "client_id": "undefined", "visit_id": None, "engine_version": engine}
        panel, listing = {**probe, "panel_id": "v1"}, {**probe, "panel_id": "v1", "k": LIST_SIZE}
    return panel, listing


def interaction_request(rating: Rating, position: int, moment: datetime, later: datetime,
                        panel: list[int]) -> tuple[str, object]:
    """The path and body that send `rating`: a journey for a taken service, else a rating event.
    `moment` stamps the click or event, `later` the order."""
    if not rating.taken:
        return "/events", {"events": [{"user_id": rating.user_id, "service_id": rating.service_id,
                                       "type": "rating", "value": rating.stars, "timestamp": iso(moment)}]}
    viewer = {"user_id": rating.user_id, "unique_id": session_id(rating.user_id), "client_id": "marketplace"}
    page = f"{SERVICES_PAGE}/{rating.service_id}"
    from_panel = rating.service_id in panel
    root = {"type": "recommendation_panel" if from_panel else "other", "resource_type": "service",
            "resource_id": rating.service_id, **({"panel_id": "v1"} if from_panel else {})}
    click = {**viewer, "timestamp": iso(moment),
             "source": {"visit_id": visit_id(position, "listing"), "page_id": SERVICES_PAGE, "root": root},
             "target": {"visit_id": visit_id(position, "page"), "page_id": page},
             "action": {"type": "button" if from_panel else "link", "text": "Details", "order": False}}
    order = {**viewer, "timestamp": iso(later),
             "source": {"visit_id": visit_id(position, "page"), "page_id": page},
             "target": {"visit_id": visit_id(position, "order"), "page_id": "/projects"},
             "action": {"type": "button", "text": "Order", "order": True}}
    return "/user_actions", [click, order]


def history_batches(ratings: list[Rating], first_position: int, moment, batch: int = 500) -> list[tuple[str, object]]:
    """Ratings sent without asking for recommendations (after the cut, before the window), in
    batches; `moment(i)` stamps the i-th."""
    requests: list[tuple[str, object]] = []
    actions, events = [], []
    for offset, rating in enumerate(ratings):
        position = first_position + offset
        path, body = interaction_request(rating, position, moment(2 * offset), moment(2 * offset + 1), [])
        if path == "/events":
            events += body["events"]
        else:
            actions += body
        if len(actions) >= batch:
            requests.append(("/user_actions", actions))
            actions = []
        if len(events) >= batch:
            requests.append(("/events", {"events": events}))
            events = []
    if actions:
        requests.append(("/user_actions", actions))
    if events:
        requests.append(("/events", {"events": events}))
    return requests


@dataclass
class HitCounter:
    """Of the services taken: how many were in the list of 10 (HR@10) and in the v1 panel."""

    taken: int = 0
    in_list: int = 0
    in_panel: int = 0
    answers: int = 0
    served_by: Counter = field(default_factory=Counter)
    hits: list[tuple[int, bool, bool]] = field(default_factory=list)  # (answer, in the list, in the panel)

    def add(self, rating: Rating, panel: list[int], listing: list[int], served: str | None = None) -> None:
        if served:
            self.served_by[served] += 1
        if rating.taken:
            in_list, in_panel = rating.service_id in listing[:LIST_SIZE], rating.service_id in panel[:PANEL_SIZE]
            self.taken += 1
            self.in_list += in_list
            self.in_panel += in_panel
            self.hits.append((self.answers, in_list, in_panel))
        self.answers += 1

    def since(self, answer: int) -> HitCounter:
        """The counts of the answers from the `answer`-th on (0 is the first)."""
        later = [hit for hit in self.hits if hit[0] >= answer]
        return HitCounter(taken=len(later), in_list=sum(h[1] for h in later), in_panel=sum(h[2] for h in later),
                          answers=max(0, self.answers - answer), hits=later)

    @property
    def hit_rate_at_10(self) -> float:
        return self.in_list / self.taken if self.taken else float("nan")

    @property
    def panel_hit_rate(self) -> float:
        return self.in_panel / self.taken if self.taken else float("nan")


class StreamPopularity:
    """Popularity computed by the client on the same stream: the services most often taken so
    far (the dump's takings, then the replay's), without those the user took, as the service
    excludes them; ties go to the most rated, then the lowest id."""

    def __init__(self, services: list[int], before: list[Rating]):
        self.services = np.asarray(sorted(services), dtype=np.int64)
        self.row = {int(s): i for i, s in enumerate(self.services)}
        self.takings = np.zeros(len(self.services), dtype=np.int64)
        self.ratings = np.zeros(len(self.services), dtype=np.int64)
        self.taken_by: dict[int, set[int]] = {}
        self._ranked: np.ndarray | None = None
        for rating in before:
            self.record(rating)

    def record(self, rating: Rating) -> None:
        row = self.row.get(rating.service_id)
        if row is None:  # not in the catalogue: never recommendable
            return
        self.ratings[row] += 1
        if rating.taken:
            self.takings[row] += 1
            self.taken_by.setdefault(rating.user_id, set()).add(rating.service_id)
        self._ranked = None

    def top(self, user_id: int, k: int) -> list[int]:
        if self._ranked is None:  # lexsort: the last key is the primary one
            self._ranked = self.services[np.lexsort((self.services, -self.ratings, -self.takings))]
        excluded = self.taken_by.get(user_id, set())
        answer = []
        for service in self._ranked:
            if int(service) not in excluded:
                answer.append(int(service))
                if len(answer) == k:
                    break
        return answer
