"""One interaction history per user and per visitor, from user actions and events."""
from datetime import datetime, timedelta, timezone

from app.marketplace.history import (
    Interaction,
    all_interactions,
    user_history,
    visitor_history,
)
from tests.fixtures.journeys import START, make_journey, wire_time

USER = 11
VISITOR = "d7c6e7a4-7a9c-4a3b-9d8e-1f2a3b4c5d6e"


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def event(type_: str, service_id: int, minutes: float, user_id=USER, unique_id=None, **extra) -> dict:
    return {"user_id": user_id, "unique_id": unique_id, "service_id": service_id, "type": type_,
            "timestamp": wire_time(at(minutes)), **extra}


def post_all(client, actions: list[dict], events: list[dict]) -> None:
    assert client.post("/user_actions", json=actions).status_code == 204
    assert client.post("/events", json={"events": events}).status_code == 204


def test_a_users_history_merges_actions_and_events_in_time_order(app, client, db):
    ordered = make_journey(user_id=USER, service_id=1, start=at(10))  # click at 10, order at 11:40
    browsed = make_journey(user_id=USER, service_id=2, start=at(30), order=False)  # click only
    events = [event("view", 3, 5), event("rating", 1, 20, value=5), event("cart", 2, 31),
              event("view", 9, 1, user_id=99)]
    post_all(client, ordered + browsed, events)
    with app.app_context():
        history = user_history(USER)
    assert history == [
        Interaction(3, "view", at(5)),
        Interaction(1, "click", at(10)),
        Interaction(1, "order", at(10) + timedelta(seconds=100)),  # traced back through its journey
        Interaction(1, "rating", at(20)),
        Interaction(2, "click", at(30)),
        Interaction(2, "cart", at(31)),
    ]
    assert all(isinstance(item.timestamp, datetime) and item.timestamp.tzinfo for item in history)


def test_the_limit_keeps_the_latest_items_oldest_first(app, client, db):
    events = [event("view", service_id, minutes) for minutes, service_id in enumerate(range(100, 110))]
    post_all(client, make_journey(user_id=USER, service_id=1, start=at(4.5), order=False)[:1], events)
    with app.app_context():
        assert [item.service_id for item in user_history(USER, limit=3)] == [107, 108, 109]
        assert [item.service_id for item in user_history(USER, limit=7)][:3] == [104, 1, 105]
        assert user_history(USER, limit=0) == []


def test_a_visitors_history_follows_the_session_not_the_user(app, client, db):
    journey = make_journey(user_id=None, unique_id=VISITOR, service_id=4, order=False)
    events = [event("view", 5, 60, user_id=None, unique_id=VISITOR.upper()), event("view", 6, 61)]
    post_all(client, journey, events)
    with app.app_context():
        assert visitor_history(VISITOR) == [Interaction(4, "click", START), Interaction(5, "view", at(60))]
        assert visitor_history(VISITOR.upper()) == visitor_history(VISITOR)
        assert user_history(USER) == [Interaction(6, "view", at(61))]


def test_all_interactions_reads_everything_oldest_first_since_a_time(app, client, db):
    first = make_journey(user_id=1, service_id=1, start=at(0))
    second = make_journey(user_id=None, unique_id=VISITOR, service_id=2, start=at(50), order=False)
    post_all(client, first + second, [event("view", 3, 30), event("rating", 3, 70, value=2.5)])
    with app.app_context():
        everything = list(all_interactions())
        recent = list(all_interactions(since=at(30)))
    assert [(item["service_id"], item["type"]) for item in everything] == [
        (1, "click"), (1, "order"), (3, "view"), (2, "click"), (3, "rating")]
    assert [item["origin"] for item in everything] == ["user_action", "user_action", "event", "user_action", "event"]
    assert everything[-1]["value"] == 2.5 and everything[3]["unique_id"] == VISITOR
    assert everything[0]["user_id"] == 1 and everything[0]["id"]
    assert [item["timestamp"] for item in recent] == [at(30), at(50), at(70)]
    assert all(item["timestamp"].tzinfo == timezone.utc or item["timestamp"].utcoffset() == timedelta(0)
               for item in everything)


def test_an_order_stores_its_journeys_service_whether_the_journey_came_with_it_or_before(app, client, db):
    with_it = make_journey(user_id=USER, service_id=1, start=at(0))
    *earlier, later_order = make_journey(user_id=USER, service_id=2, start=at(10))
    post_all(client, with_it + earlier, [])
    post_all(client, [later_order], [])
    orders = sorted(db["user_actions"].find({"action.order": True}), key=lambda doc: doc["timestamp"])
    assert [doc["order_service_id"] for doc in orders] == [1, 2]
    with app.app_context():
        assert [(i.service_id, i.type) for i in user_history(USER) if i.type == "order"] == [(1, "order"), (2, "order")]


def test_an_order_that_arrives_before_its_journey_is_resolved_when_read(app, client, db):
    *journey, order = make_journey(user_id=USER, service_id=3, start=at(0))
    post_all(client, [order], [])
    assert "order_service_id" not in db["user_actions"].find_one({"action.order": True})
    post_all(client, journey, [])
    with app.app_context():
        assert (3, "order") in [(i.service_id, i.type) for i in user_history(USER)]


def test_the_latest_interactions_are_found_behind_many_page_to_page_actions(app, client, db):
    clicks = [make_journey(user_id=USER, service_id=service, start=at(minutes), order=False)[0]
              for minutes, service in ((1, 41), (2, 42), (3, 43))]
    browsing = make_journey(user_id=USER, service_id=44, start=at(10), order=False)[1:]  # pages, no service
    pages = [{**browsing[index % len(browsing)], "timestamp": wire_time(at(10 + index / 10))} for index in range(250)]
    post_all(client, clicks + pages, [])
    with app.app_context():
        assert [item.service_id for item in user_history(USER, limit=3)] == [41, 42, 43]
        assert [item.service_id for item in user_history(USER, limit=2)] == [42, 43]
