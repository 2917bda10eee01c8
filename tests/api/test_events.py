"""POST /events: batches of generic interaction events, all or nothing."""
import copy
from datetime import datetime, timezone

import pytest

VISITOR = "0b6f3f0e-4a57-4d5c-9a43-2f7c1d7f9a10"


def view(**changes) -> dict:
    event = {"user_id": 7, "service_id": 12, "type": "view", "timestamp": "2021-03-18T19:33:21.620Z",
             "params": {"source": "search", "position": 3}, "referrer": "ignored"}
    event.update(changes)
    return event


def stored(db) -> list[dict]:
    return list(db["events"].find().sort("timestamp", 1))


def test_a_batch_of_events_is_stored(client, db):
    events = [
        view(),
        view(user_id=None, unique_id=VISITOR.upper(), type="cart", timestamp="2021-03-18T19:34:00Z"),
        view(type="rating", value=4.5, timestamp="2021-03-18T19:35:00+01:00", params=None),
    ]
    response = client.post("/events", json={"events": events, "marketplace": "eosc"})
    assert response.status_code == 204, response.get_json()
    rating, first, cart = stored(db)  # +01:00 makes the rating the earliest
    assert first["user_id"] == 7 and first["service_id"] == 12 and first["type"] == "view"
    assert first["params"] == {"source": "search", "position": 3} and "referrer" not in first
    assert cart["unique_id"] == VISITOR and "user_id" not in cart
    assert rating["value"] == 4.5
    assert rating["timestamp"] == datetime(2021, 3, 18, 18, 35, tzinfo=timezone.utc)


def test_a_retried_id_is_stored_once(client, db):
    batch = {"events": [view(id="e-1"), view(id="e-2", type="click")]}
    assert client.post("/events", json=batch).status_code == 204
    assert client.post("/events", json=batch).status_code == 204
    assert sorted(doc["_id"] for doc in stored(db)) == ["e-1", "e-2"]


def test_an_identical_event_without_id_is_stored_once(client, db):
    assert client.post("/events", json={"events": [view(), view()]}).status_code == 204
    assert len(stored(db)) == 1


def _bad(**changes) -> dict:
    event = view(**changes)
    return {key: value for key, value in event.items() if value != "DROP"}


BAD_EVENTS = {
    "events.1.type": _bad(type="purchase"),
    "events.1.service_id": _bad(service_id="DROP"),
    "events.1.timestamp": _bad(timestamp="2021-02-30T10:00:00Z"),
    "events.1.unique_id": _bad(unique_id="visitor-1"),
    "events.1.user_id": _bad(user_id={"$gt": 0}),
    "events.1.value": _bad(value="five"),
    "events.1.params.$where": _bad(params={"$where": "1"}),
    "events.1.params.a.b": _bad(params={"a.b": 1}),
    "events.1.params.nested": _bad(params={"nested": {"x": 1}}),
}


@pytest.mark.parametrize("path", BAD_EVENTS)
def test_a_bad_event_rejects_the_whole_batch_naming_the_field(client, db, path):
    response = client.post("/events", json={"events": [view(), BAD_EVENTS[path]]})
    assert response.status_code == 400
    assert list(response.get_json()["errors"]) == [path], response.get_json()
    assert stored(db) == []


@pytest.mark.parametrize("event, path, reason", [
    (view(user_id=None), "events.0.user_id", "either user_id or unique_id is required"),
    (view(type="rating"), "events.0.value", "a rating event needs a value"),
    (view(timestamp="0001-01-01T00:00:00+01:00"), "events.0.timestamp", "out of the supported date range"),
])
def test_rules_beyond_the_schema_are_400_too(client, db, event, path, reason):
    event = {key: value for key, value in event.items() if value is not None}
    response = client.post("/events", json={"events": [event, view(type="click")]})
    assert response.status_code == 400
    assert reason in response.get_json()["errors"][path]
    assert stored(db) == []


def test_a_non_finite_value_is_refused(client, db):
    body = ('{"events": [{"user_id": 1, "service_id": 2, "type": "rating", "value": NaN, '
            '"timestamp": "2021-03-18T19:33:21Z"}]}')
    response = client.post("/events", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "events.0.value" in response.get_json()["errors"]


@pytest.mark.parametrize("body", [[view()], {"event": [view()]}, {"events": view()}, "view"])
def test_a_body_without_an_events_array_is_a_400(client, db, body):
    response = client.post("/events", json=body)
    assert response.status_code == 400
    assert response.get_json()["errors"]
    assert stored(db) == []


def test_an_empty_batch_stores_nothing(client, db):
    assert client.post("/events", json={"events": []}).status_code == 204


def test_swagger_lists_the_known_event_types(client):
    event = client.get("/swagger.json").get_json()["definitions"]["Event"]
    assert {"view", "click", "cart", "order", "rating"} <= set(event["properties"]["type"]["enum"])
    assert copy.deepcopy(event["required"]) == ["service_id", "timestamp", "type"]
