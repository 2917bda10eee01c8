"""How often each service was shown to one person without a click: what `rotation` reads.

From the served-recommendation log: the person's newest SHOWINGS_READ panels within
ROTATION_WINDOW_SECONDS, through the (user_id, created_at) or (unique_id, created_at)
index. SecantusDB examines every key of a range before it applies the sort and the limit
(a person with 300 panels in a week cost 35 ms a request, where MongoDB would stop after
the limit), so the window is read in widening steps, each a range bounded on both sides:
the last six hours, two days, then the rest, stopping once enough panels are found. A
showing counts until the person's latest interaction with that service (their history, by
its timestamps): a visitor who clicked or viewed it has answered it.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import numpy as np
from flask import current_app

from app.engines import Interactions, seconds_since_epoch
from app.storage import database

SHOWINGS_READ = 50  # panels read at most, the newest: 150 showings of three-service panels
# The widening steps before the whole window: a person with 300 panels in a week (43 a day)
# is answered after examining about 86 keys instead of 300; one without panels costs three
# reads that examine nothing.
STEPS_SECONDS = (6 * 3600, 2 * 24 * 3600)


def showings_windows(now: datetime) -> list[tuple[datetime, datetime]]:
    """(from, until) of each step, newest first; each read takes `from` <= created_at < `until`."""
    window = current_app.config["ROTATION_WINDOW_SECONDS"]
    edges = [seconds for seconds in STEPS_SECONDS if seconds < window] + [window]
    until, windows = now + timedelta(microseconds=1), []
    for seconds in edges:
        since = now - timedelta(seconds=seconds)
        windows.append((since, until))
        until = since
    return windows


def unclicked_showings(user_id: int | None, unique_id: str | None, histories: list[Interactions],
                       now: datetime | None = None) -> Counter:
    """Service id → how often it was shown to this person since their latest interaction with it
    (in any of `histories`: what is stored of them, and the request's session)."""
    if user_id is not None:
        person = {"user_id": int(user_id)}
    elif unique_id:
        person = {"unique_id": unique_id.lower()}
    else:
        return Counter()
    latest_interaction = {}
    for history in histories:
        for service_id, moment in zip(history.service_ids.tolist(), history.timestamps.tolist()):
            latest_interaction[service_id] = max(moment, latest_interaction.get(service_id, -np.inf))
    shown, read = Counter(), 0
    for since, until in showings_windows(now or datetime.now(timezone.utc)):
        panels = database()["recommendations"].find(
            {**person, "created_at": {"$gte": since, "$lt": until}}, {"service_ids": 1, "created_at": 1},
        ).sort("created_at", -1).limit(SHOWINGS_READ - read)
        for panel in panels:
            read += 1
            at = seconds_since_epoch(panel["created_at"])
            shown.update(s for s in panel.get("service_ids") or () if at > latest_interaction.get(s, -np.inf))
        if read >= SHOWINGS_READ:
            break
    return shown
