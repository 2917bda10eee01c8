"""What `rotation` reads of the served log: a person's newest panels within the window, read
in widening steps, each showing counted until the person's latest interaction with it."""
import uuid
from datetime import datetime, timedelta, timezone

from app.engines import Interactions
from app.recommendations.showings import SHOWINGS_READ, showings_windows, unclicked_showings
from tests.fixtures.mongo_commands import recorded_finds

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)


def store_panels(db, person: dict, ages_and_services: list[tuple[timedelta, list[int]]]) -> None:
    db["recommendations"].insert_many([
        {"_id": str(uuid.uuid4()), "created_at": NOW - age, "engine": "Popularity", "service_ids": services,
         **person} for age, services in ages_and_services])


def test_the_steps_cover_the_window_once_newest_first(app):
    with app.app_context():
        windows = showings_windows(NOW)
        window = timedelta(seconds=app.config["ROTATION_WINDOW_SECONDS"])
    assert windows[0][1] > NOW and windows[-1][0] == NOW - window
    assert all(earlier[0] == later[1] for earlier, later in zip(windows, windows[1:]))  # no gap, no overlap


def test_the_newest_panels_are_counted_and_the_read_stops_once_it_has_enough(app, db):
    visitor = str(uuid.uuid4())
    recent = [(timedelta(minutes=m), [1, 2, 3]) for m in range(SHOWINGS_READ + 10)]  # all within six hours
    store_panels(db, {"unique_id": visitor}, [*recent, (timedelta(days=3), [7, 8, 9])])
    with app.app_context(), recorded_finds() as finds:
        shown = unclicked_showings(None, visitor.upper(), [Interactions.empty()], now=NOW)
    assert shown == {1: SHOWINGS_READ, 2: SHOWINGS_READ, 3: SHOWINGS_READ}  # the three-day-old panel is not read
    assert [collection for collection, _ in finds] == ["recommendations"]


def test_older_steps_are_read_when_the_newest_hold_too_few_and_nothing_past_the_window(app, db):
    user_id = 41
    store_panels(db, {"user_id": user_id}, [(timedelta(hours=1), [1, 2]), (timedelta(days=1), [2, 3]),
                                            (timedelta(days=5), [3, 4]), (timedelta(days=30), [5])])
    store_panels(db, {"user_id": 42}, [(timedelta(hours=1), [9])])  # someone else's
    with app.app_context():
        shown = unclicked_showings(user_id, str(uuid.uuid4()), [Interactions.empty()], now=NOW)
    assert shown == {1: 1, 2: 2, 3: 2, 4: 1}


def test_a_showing_before_the_persons_latest_interaction_with_it_does_not_count(app, db):
    visitor = str(uuid.uuid4())
    store_panels(db, {"unique_id": visitor}, [(timedelta(hours=3), [1, 2]), (timedelta(hours=1), [1, 2])])
    viewed = Interactions.from_records([(1, "view", NOW - timedelta(hours=2))])
    with app.app_context():
        shown = unclicked_showings(None, visitor, [Interactions.empty(), viewed], now=NOW)
    assert shown == {1: 1, 2: 2}


def test_nobody_reads_nothing(app, db):
    with app.app_context(), recorded_finds() as finds:
        assert unclicked_showings(None, None, [Interactions.empty()], now=NOW) == {}
    assert finds == []
