"""Hourly counts of stored actions and events, and the bounded windows bulk readers walk."""
from collections import Counter
from datetime import datetime, timedelta, timezone

from app.marketplace.events import store_events
from app.marketplace.history import all_interactions, oldest_first
from app.storage import time_buckets
from app.storage.interactions import Event
from app.storage.time_buckets import EARLIEST, HOUR, LATEST, TimestampHour, count_since, hour_counts, windows
from tests.fixtures.journeys import wire_time

T0 = datetime(2026, 3, 1, 10)  # naive UTC, as BSON dates come back without a zone


def assert_tiles(tiles, start=EARLIEST):
    """Contiguous, non-empty, from `start` to the end of time: every document falls in exactly one."""
    assert tiles[0][0] == start and tiles[-1][1] == LATEST
    assert all(a < b for a, b in tiles) and all(b == c for (_, b), (c, _) in zip(tiles, tiles[1:]))


def test_quiet_hours_and_the_gaps_between_them_share_a_window():
    counts = {T0: 100, T0 + 5 * HOUR: 100, T0 + 9 * HOUR: 400, T0 + 40 * HOUR: 50}
    tiles = windows(counts, per_window=500)
    assert_tiles(tiles)
    assert tiles == [(EARLIEST, T0 + 9 * HOUR), (T0 + 9 * HOUR, LATEST)]


def test_a_busy_hour_is_cut_into_equal_parts():
    tiles = windows({T0: 1200, T0 + HOUR: 10}, per_window=500)
    assert_tiles(tiles)
    minutes = timedelta(minutes=1)
    assert tiles[:4] == [(EARLIEST, T0), (T0, T0 + 20 * minutes), (T0 + 20 * minutes, T0 + 40 * minutes),
                         (T0 + 40 * minutes, T0 + HOUR)]


def test_windows_from_a_moment_start_there_even_inside_a_busy_hour():
    since = T0 + timedelta(minutes=30)
    tiles = windows({T0 - HOUR: 900, T0: 1000, T0 + HOUR: 900}, since=since, per_window=500)
    assert_tiles(tiles, start=since)
    assert tiles[0] == (since, since + timedelta(minutes=15))
    assert windows({}, since=since.replace(tzinfo=timezone.utc)) == [(since, LATEST)]  # aware or naive alike


def events_at(moments: list[datetime], service_id: int = 1) -> list[dict]:
    return [{"unique_id": f"00000000-0000-4000-8000-{n:012d}", "service_id": service_id, "type": "view",
             "timestamp": wire_time(moment.replace(tzinfo=timezone.utc))} for n, moment in enumerate(moments)]


def test_stored_events_are_counted_by_hour_and_read_in_bounded_windows(app, db):
    moments = [T0 + timedelta(seconds=7 * n) for n in range(1500)]  # 1,500 over about three hours
    with app.app_context():
        db["timestamp_hours"].drop_indexes()
        TimestampHour.ensure_indexes()  # as `flask db init` makes it, before any writer asks for it
        time_buckets._INDEXED.clear()
        store_events(events_at(moments[:700]))
        store_events(events_at(moments[700:]) + events_at(moments[:5]))  # five already stored: not counted twice
        events = Event._get_collection()
        counts = hour_counts(events)
        assert counts == {hour: sum(time_buckets.hour_of(m) == hour for m in moments) for hour in counts}
        assert sum(counts.values()) == 1500

        tiles = windows(counts, per_window=200)
        held = [events.count_documents({"timestamp": {"$gte": a, "$lt": b}}) for a, b in tiles]
        assert sum(held) == 1500 and max(held) <= 200
        read = list(oldest_first(events, {"timestamp": 1}, per_window=200))
    assert len(read) == 1500 and [d["timestamp"] for d in read] == sorted(d["timestamp"] for d in read)


def test_flask_db_init_after_a_writer_made_the_index_finds_it_made(app, db):
    with app.app_context():
        db["timestamp_hours"].drop_indexes()
        time_buckets._INDEXED.clear()
        store_events(events_at([T0]))
        hour_counts(Event._get_collection())  # a reader made the index
        TimestampHour.ensure_indexes()  # the next `make run` starts with `flask db init`
        assert "collection_1_hour_1" in db["timestamp_hours"].index_information()


def test_a_complete_read_finds_uncounted_documents_and_sets_the_counts_right(app, db):
    moments = [T0 + timedelta(minutes=n) for n in range(120)]
    with app.app_context():
        store_events(events_at(moments))
        events = Event._get_collection()
        events.insert_one({"_id": "raw", "service_id": 2, "type": "view", "timestamp": T0 - 50 * HOUR})  # uncounted
        db["timestamp_hours"].update_many({}, {"$set": {"n": 7}})  # and the counts gone wrong
        assert len(list(all_interactions())) == 121
        assert hour_counts(events) == {T0 - 50 * HOUR: 1, T0: 60, T0 + HOUR: 60}


def test_count_since_is_exact_inside_the_first_hour_and_counted_after_it(app, db):
    moments = [T0 + timedelta(minutes=n / 2) for n in range(60)] + [T0 + HOUR + timedelta(minutes=n) for n in range(50)]
    with app.app_context():
        store_events(events_at(moments))  # the first hour's 60 in its first half hour
        events = Event._get_collection()
        since = T0 + timedelta(minutes=20, seconds=10)
        assert count_since(events, since) == 50 + 19  # read: 60 documents are 4 windows at most
        assert count_since(events, since.replace(tzinfo=timezone.utc)) == 50 + 19
        assert count_since(events, T0 + 3 * HOUR) == 0
        # A first hour of more than 4 windows is taken as evenly spread: 60 * 39/60 + 50.
        assert count_since(events, T0 + timedelta(minutes=21), per_window=10) == 39 + 50


def test_a_walk_cuts_windows_short_where_the_documents_read_are_denser_than_counted():
    from app.storage.time_buckets import WindowWalk

    # 500 counted in an hour, planned as ten windows of six minutes; all of them in the last twelve.
    stamps = [T0 + timedelta(minutes=48) + timedelta(milliseconds=1440 * n) for n in range(500)]
    walk = WindowWalk(windows({T0: 500}, since=T0, per_window=50), per_window=50)
    held = []
    for start, stop in walk.windows():
        inside = sum(start <= stamp < stop for stamp in stamps)
        walk.read(inside)
        held.append(inside)
    busy = [n for n in held if n]
    assert sum(held) == 500 and busy[0] == 250  # the first busy window could not know
    assert len(busy) > 5 and max(busy[1:]) <= 60  # the rest are cut to about 50 each


def test_counts_the_database_did_not_take_are_kept_for_the_next_flush(app, db):
    import pymongo

    from app.storage.time_buckets import PendingCounts

    hour = datetime(2026, 1, 1, 10, tzinfo=timezone.utc)
    unreachable = pymongo.MongoClient("mongodb://127.0.0.1:1/", serverSelectionTimeoutMS=100)["marketrec_test"]
    pending = PendingCounts()
    pending.add(unreachable["events"], Counter({hour: 3}))
    pending.flush()  # the server cannot be selected: nothing was sent
    pending.flush()
    (_, counts), = pending._counts.values()
    assert counts == Counter({hour: 3})
