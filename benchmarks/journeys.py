"""User actions at marketplace scale for the serving benchmark: browsing sessions of
logged-in users and anonymous visitors in the wire format POST /user_actions
receives, stored through the function the API calls.

A session starts on a visit of `/services` that shows a recommendation panel; the
visitor clicks a service in it (`source.root`: the panel and the service), browses
the service's pages, sometimes orders it (logged-in users only: the order names no
service, its journey does), sometimes leaves for another page, and may go back to
`/services` and click in the panel shown there. Who browses is drawn from a
long-tailed activity (a few identities do much, most do little), and the clicked
services from a long-tailed popularity, as in a real marketplace.
"""
from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.marketplace.user_actions import store_user_actions
from app.sample_data.synthetic import BROWSE_SUBPAGES, ORDER_SUBPAGES, service_page_id, user_action
from benchmarks.harness import random_uuid

ANONYMOUS_SHARE = 0.15  # sessions of visitors who are not logged in
ORDER_SHARE = 0.1  # panel clicks of a logged-in user that end with an order
ANOTHER_PANEL_CLICK = 0.4  # chance of going back to /services and clicking in its panel again
ELSEWHERE = ("/", "/providers", "/projects", "/about", "/services?q=data")  # pages without a service
PANEL_PAGE = "/services"


@dataclass
class SeedCounts:
    """What a run of `store_sessions` stored."""

    actions: int = 0
    sessions: int = 0
    orders: int = 0
    user_ids: set = field(default_factory=set)
    visitor_ids: set = field(default_factory=set)


class Sessions:
    """Browsing sessions drawn from one seeded generator: the same arguments give the same actions."""

    def __init__(self, services: list[dict], user_ids: list[int], visitor_ids: list[str], now: datetime,
                 days: float = 30.0, seed: int = 0):
        """`services`: dump services ({id, name}) that panels show; sessions end before `now`,
        spread over the `days` before it."""
        self.rng = random.Random(seed)
        rng = self.rng
        self.pages = [(s["id"], service_page_id(s["id"], s["name"])) for s in services]
        # Zipf-like popularity in a random order of the catalogue.
        ranks = list(range(1, len(self.pages) + 1))
        rng.shuffle(ranks)
        self.service_weights = list(itertools.accumulate(1.0 / rank for rank in ranks))
        self.user_ids, self.visitor_ids = list(user_ids), list(visitor_ids)
        self.user_weights = list(itertools.accumulate(rng.lognormvariate(0.0, 1.0) for _ in self.user_ids))
        self.visitor_weights = list(itertools.accumulate(rng.lognormvariate(0.0, 1.0) for _ in self.visitor_ids))
        self.now, self.span = now, days * 86400.0

    def who(self) -> dict:
        """The identity fields of a new session: a logged-in user (with a fresh browser session id),
        or an anonymous visitor (whose browser session id is kept between visits)."""
        rng = self.rng
        if not self.user_ids or (self.visitor_ids and rng.random() < ANONYMOUS_SHARE):
            return {"unique_id": rng.choices(self.visitor_ids, cum_weights=self.visitor_weights)[0]}
        user_id = rng.choices(self.user_ids, cum_weights=self.user_weights)[0]
        return {"unique_id": random_uuid(rng), "user_id": user_id}

    def session(self) -> list[dict]:
        """One browsing session's actions, in time order."""
        rng = self.rng
        who = self.who()
        moment = self.now - timedelta(seconds=rng.uniform(600.0, self.span))
        visit = (random_uuid(rng), PANEL_PAGE)
        actions: list[dict] = []

        def step(page: str, action: tuple, root: dict | None = None) -> None:
            nonlocal moment, visit
            moment += timedelta(seconds=rng.randint(3, 120))
            target = (random_uuid(rng), page)
            actions.append(user_action(timestamp=moment, source=visit, target=target, action=action, root=root,
                                       **who))
            visit = target

        while True:
            service_id, page = rng.choices(self.pages, cum_weights=self.service_weights)[0]
            root = {"type": "recommendation_panel", "panel_id": "v1" if rng.random() < 0.7 else "v2",
                    "resource_type": "service", "resource_id": service_id}
            step(page, ("button", "Details", False), root)
            for _ in range(min(4, _poisson(rng, 1.2))):
                subpage = rng.choice(BROWSE_SUBPAGES)
                step(f"{page}/{subpage}", ("link", subpage.title(), False))
            if "user_id" in who and rng.random() < ORDER_SHARE:
                for subpage in ORDER_SUBPAGES:
                    step(f"{page}/{subpage}", ("button", subpage.title(), False))
                step(f"/projects/{rng.randint(1, 10**6)}", ("button", "Order", True))
            elif rng.random() < 0.3:
                step(rng.choice(ELSEWHERE), ("link", "Menu", False))
            if rng.random() >= ANOTHER_PANEL_CLICK:
                return actions
            step(PANEL_PAGE, ("link", "Services", False))  # back to the list: a new visit, a new panel

    def batches(self, actions: int, size: int) -> Iterator[list[list[dict]]]:
        """Whole sessions, about `size` actions a batch, until at least `actions` are drawn."""
        drawn = 0
        while drawn < actions:
            batch, count = [], 0
            while count < size and drawn + count < actions:
                batch.append(self.session())
                count += len(batch[-1])
            drawn += count
            yield batch


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for small means.
    limit, count, product = pow(2.718281828459045, -mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def store_sessions(sessions: Sessions, actions: int, batch_size: int = 2000, progress=None) -> SeedCounts:
    """Draw at least `actions` user actions and store them with `store_user_actions`, the function
    POST /user_actions calls, a batch of whole sessions at a time (so an order finds its journey
    in its own request, as it does when a marketplace sends a session at once)."""
    counts = SeedCounts()
    started = last = time.perf_counter()
    for batch in sessions.batches(actions, batch_size):
        flat = [action for session in batch for action in session]
        counts.actions += store_user_actions(flat)
        counts.sessions += len(batch)
        counts.orders += sum(action["action"]["order"] for action in flat)
        for session in batch:
            if "user_id" in session[0]:
                counts.user_ids.add(session[0]["user_id"])
            else:
                counts.visitor_ids.add(session[0]["unique_id"])
        if progress and time.perf_counter() - last > 30:
            last = time.perf_counter()
            progress(f"{counts.actions} user actions stored ({last - started:.0f} s)")
    return counts

