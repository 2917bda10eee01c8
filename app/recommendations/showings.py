"""How often each service was shown to one person without a click: what `rotation` reads.

From the served-recommendation log: the person's panels of the last ROTATION_WINDOW_SECONDS,
newest first, at most SHOWINGS_READ of them, through the (user_id, created_at) or
(unique_id, created_at) index: an equality on the prefix and a range bounded on both sides
on the next key, which SecantusDB and MongoDB both answer from the index (a range open on one
side, with a limit, examined every later key on SecantusDB). A showing counts until the
person's latest interaction with that service (their history, by its timestamps): a visitor
who clicked or viewed it has answered it.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import numpy as np
from flask import current_app

from app.engines import Interactions
from app.storage import database

SHOWINGS_READ = 200  # panels read at most; the newest, as a person's latest visits matter most


def showings_query(user_id: int | None, unique_id: str | None, now: datetime) -> dict | None:
    """The served-log filter of one person's recent panels (None for nobody)."""
    since = now - timedelta(seconds=current_app.config["ROTATION_WINDOW_SECONDS"])
    window = {"$gte": since, "$lte": now}
    if user_id is not None:
        return {"user_id": int(user_id), "created_at": window}
    if unique_id:
        return {"unique_id": unique_id.lower(), "created_at": window}
    return None


def unclicked_showings(user_id: int | None, unique_id: str | None, histories: list[Interactions],
                       now: datetime | None = None) -> Counter:
    """Service id → how often it was shown to this person since their latest interaction with it
    (in any of `histories`: what is stored of them, and the request's session)."""
    query = showings_query(user_id, unique_id, now or datetime.now(timezone.utc))
    if query is None:
        return Counter()
    latest_interaction = {}
    for history in histories:
        for service_id, moment in zip(history.service_ids.tolist(), history.timestamps.tolist()):
            latest_interaction[service_id] = max(moment, latest_interaction.get(service_id, -np.inf))
    shown = Counter()
    panels = database()["recommendations"].find(query, {"service_ids": 1, "created_at": 1}).sort(
        "created_at", -1).limit(SHOWINGS_READ)
    for panel in panels:
        at = _seconds(panel["created_at"])
        shown.update(s for s in panel.get("service_ids") or () if at > latest_interaction.get(s, -np.inf))
    return shown


def _seconds(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
