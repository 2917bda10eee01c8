"""Refits keep what they read and read only what arrived since, with a re-read tail for late actions."""
from datetime import datetime, timedelta, timezone

import numpy as np

from app.marketplace.events import store_events
from app.recommendations.kept_interactions import KeptInteractions, _settled_moment
from tests.fixtures.journeys import wire_time
from tests.fixtures.mongo_commands import recorded_finds

START = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
LATE = 600.0  # seconds read again at every refit
FULL = 3600.0


def views(minutes: list[float], service_id: int = 1, user_id: int = 7) -> list[dict]:
    return [{"user_id": user_id, "service_id": service_id, "type": "view",
             "timestamp": wire_time(START + timedelta(minutes=m))} for m in minutes]


class Clock:
    def __init__(self):
        self.now = (START + timedelta(days=1)).timestamp()

    def __call__(self) -> float:
        return self.now


def stamps(arrays) -> list[float]:
    return [round((t - START.timestamp()) / 60, 3) for t in arrays["timestamps"]]


def event_finds(finds) -> list[dict]:
    return [query for collection, query in finds if collection == "events"]


def test_a_second_read_reads_only_the_late_tail_and_what_came_after_and_matches_a_full_read(app, db):
    clock = Clock()
    kept = KeptInteractions(LATE, FULL, clock)
    with app.app_context():
        store_events(views([0, 10, 20, 30, 40]))
        first, report = kept.read("s1")
        assert report.as_dict() == {"full": True, "read": 5, "since": None}
        # A late one inside the re-read tail (30 min = newest 40 min - 10 min), and newer ones.
        store_events(views([35, 50, 60], service_id=2))
        with recorded_finds() as finds:
            second, report = kept.read("s1")
        full, _ = KeptInteractions(LATE, FULL, clock).read("s1")
    assert stamps(first) == [0, 10, 20, 30, 40]
    assert report.full is False and report.since == (START + timedelta(minutes=30)).isoformat()
    assert report.read == 5  # 30 and 40 again, then 35, 50 and 60
    assert stamps(second) == [0, 10, 20, 30, 35, 40, 50, 60] == stamps(full)
    for name in ("keys", "service_ids", "types"):
        assert np.array_equal(second[name], full[name])
    # Every read of the events went from the settled moment on, none from the start.
    bounds = [query["timestamp"]["$gte"] for query in event_finds(finds) if "timestamp" in query]
    assert bounds and min(bounds).replace(tzinfo=timezone.utc) >= START + timedelta(minutes=30)


def test_an_action_later_than_the_tail_waits_for_the_next_full_read(app, db):
    clock = Clock()
    kept = KeptInteractions(LATE, FULL, clock)
    with app.app_context():
        store_events(views([0, 60]))
        kept.read("s1")
        store_events(views([5], service_id=3))  # 55 minutes before the newest: outside the tail
        missed, report = kept.read("s1")
        assert not report.full and 3 not in missed["service_ids"]
        clock.now += FULL
        found, report = kept.read("s1")
        assert report.full and stamps(found) == [0, 5, 60]
        store_events(views([6], service_id=4))
        asked, report = kept.read("s1", full=True)
        assert report.full and stamps(asked) == [0, 5, 6, 60]


def test_another_snapshot_is_read_in_full(app, db):
    kept = KeptInteractions(LATE, FULL, Clock())
    with app.app_context():
        store_events(views([0, 1]))
        kept.read("s1")
        _, report = kept.read("s2")
        assert report.full and report.read == 2
        kept.forget()
        _, report = kept.read("s2")
        assert report.full


def test_a_clock_running_ahead_does_not_hide_what_comes_after_it():
    """A client whose timestamps lie in the future must not move the next read past now."""
    began = START.timestamp()
    ahead = _settled_moment(began + 86_400, began, LATE)
    assert ahead == START - timedelta(seconds=LATE)
    assert _settled_moment(None, began, LATE) == ahead
    # To the millisecond MongoDB keeps, rounded down so nothing stored at that moment is skipped.
    assert _settled_moment(began + LATE + 0.0129, began + 3600, LATE).microsecond == 12_000
