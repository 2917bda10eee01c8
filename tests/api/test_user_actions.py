"""POST /user_actions: the contract's action shape, arrays of them, durability and idempotency."""
import copy
import json
import threading
import uuid
from datetime import datetime, timezone

import pytest

from app import create_app
from app.storage.interactions import DurableInserts, UserAction
from tests.fixtures.journeys import make_journey

# The contract's example, plus keys the marketplace sends beyond it.
EXAMPLE = {
    "user_id": 1234, "aai_uid": "abc@egi.eu", "unique_id": "5642c351-80fe-44cf-b606-304f2f338122",
    "timestamp": "2021-03-18T19:33:21.620Z", "client_id": "marketplace",
    "source": {"visit_id": "202090a4-de4c-4230-acba-6e2931d9e37c", "page_id": "/services",
               "root": {"type": "recommendation_panel", "panel_id": "v1", "resource_type": "service",
                        "resource_id": 1234, "position": 2}},
    "target": {"visit_id": "9f543b80-dd5b-409b-a619-6312a0b04f4f", "page_id": "/services/egi-cloud-compute"},
    "action": {"type": "button", "text": "Details", "order": True, "css": "btn"},
    "locale": "en",
}


def example(**changes) -> dict:
    action = copy.deepcopy(EXAMPLE)
    action.update(changes)
    return action


def stored(db) -> list[dict]:
    return list(db["user_actions"].find().sort("timestamp", 1))


def test_the_contracts_example_is_stored_with_unknown_keys_ignored(client, db):
    response = client.post("/user_actions", json=example())
    assert response.status_code == 204, response.get_json()
    assert response.data == b""
    [doc] = stored(db)
    assert doc["user_id"] == 1234 and doc["aai_uid"] == "abc@egi.eu"
    assert doc["unique_id"] == "5642c351-80fe-44cf-b606-304f2f338122"
    assert doc["timestamp"] == datetime(2021, 3, 18, 19, 33, 21, 620000, tzinfo=timezone.utc)
    assert doc["source"] == {"visit_id": "202090a4-de4c-4230-acba-6e2931d9e37c", "page_id": "/services",
                             "root": {"type": "recommendation_panel", "panel_id": "v1",
                                      "resource_type": "service", "resource_id": 1234}}
    assert doc["target"]["visit_id"] == "9f543b80-dd5b-409b-a619-6312a0b04f4f"
    assert doc["action"] == {"type": "button", "text": "Details", "order": True}
    assert doc["service_id"] == 1234  # the panel's resource
    assert "locale" not in doc


def test_an_array_of_actions_is_stored_and_follow_ups_without_root_too(client, db):
    journey = make_journey(service_id=7)
    assert client.post("/user_actions", json=journey).status_code == 204
    docs = stored(db)
    assert len(docs) == 6
    assert [doc["target"]["visit_id"] for doc in docs] == [a["target"]["visit_id"] for a in journey]
    follow_ups = [doc for doc in docs if "root" not in doc["source"]]
    assert len(follow_ups) == 5 and all("service_id" not in doc for doc in follow_ups)


def test_a_follow_up_sent_alone_is_stored(client, db):
    follow_up = make_journey()[2]
    assert "root" not in follow_up["source"]
    assert client.post("/user_actions", json=follow_up).status_code == 204
    assert len(stored(db)) == 1


def test_a_null_source_visit_and_uppercase_uuids_are_accepted(client, db):
    action = example(unique_id=EXAMPLE["unique_id"].upper())
    action["source"]["visit_id"] = None
    assert client.post("/user_actions", json=action).status_code == 204
    [doc] = stored(db)
    assert doc["source"]["visit_id"] is None
    assert doc["unique_id"] == EXAMPLE["unique_id"]


def test_optional_fields_may_be_null_and_a_null_root_is_a_follow_up(client, db):
    action = example(user_id=None, aai_uid=None, client_id=None, id=None)
    action["source"]["root"] = None
    assert client.post("/user_actions", json=action).status_code == 204
    [doc] = stored(db)
    assert "user_id" not in doc and "aai_uid" not in doc and "root" not in doc["source"]
    assert "service_id" not in doc


def test_a_retry_with_the_same_client_id_is_stored_once(client, db):
    action = example(id="client-42")
    assert client.post("/user_actions", json=action).status_code == 204
    assert client.post("/user_actions", json=[action, example(id="client-43")]).status_code == 204
    assert sorted(doc["_id"] for doc in stored(db)) == ["client-42", "client-43"]


def test_an_identical_action_without_id_is_stored_once(client, db):
    assert client.post("/user_actions", json=example()).status_code == 204
    assert client.post("/user_actions", json=example()).status_code == 204
    assert client.post("/user_actions", json=example(timestamp="2021-03-18T19:33:22.000Z")).status_code == 204
    assert len(stored(db)) == 2


def seed_user(db, aai_uid: str, user_id: int, snapshot_id: str = "snap-2") -> None:
    db["users"].insert_one({"snapshot_id": snapshot_id, "marketplace_id": user_id, "aai_uid": aai_uid})
    db["active_snapshot"].replace_one(
        {"_id": "marketplace"},
        {"_id": "marketplace", "snapshot_id": snapshot_id, "sequence": 2, "switched_at": datetime.now(timezone.utc)},
        upsert=True,
    )


def test_aai_uid_is_resolved_to_the_user_of_the_active_snapshot(client, db):
    seed_user(db, "abc@egi.eu", 77)
    db["users"].insert_one({"snapshot_id": "snap-1", "marketplace_id": 5, "aai_uid": "abc@egi.eu"})  # superseded
    action = example()
    del action["user_id"]
    unknown = example(aai_uid="nobody@egi.eu", timestamp="2021-03-18T19:40:00Z")
    del unknown["user_id"]
    assert client.post("/user_actions", json=[action, unknown]).status_code == 204
    resolved, unresolved = stored(db)
    assert resolved["user_id"] == 77
    assert "user_id" not in unresolved and unresolved["aai_uid"] == "nobody@egi.eu"


def test_a_given_user_id_wins_over_aai_uid(client, db):
    seed_user(db, "abc@egi.eu", 77)
    assert client.post("/user_actions", json=example()).status_code == 204
    assert stored(db)[0]["user_id"] == 1234


def _without(path: str) -> dict:
    action = example()
    *parents, last = path.split(".")
    node = action
    for key in parents:
        node = node[key]
    del node[last]
    return action


def _with(path: str, value) -> dict:
    action = example()
    *parents, last = path.split(".")
    node = action
    for key in parents:
        node = node[key]
    node[last] = value
    return action


BAD_ACTIONS = {
    "unique_id": _with("unique_id", "5642c351-not-a-uuid"),
    "target.visit_id": _with("target.visit_id", "9f543b80dd5b"),
    "source.visit_id": _with("source.visit_id", "visit-1"),
    "timestamp": _with("timestamp", "18/03/2021 19:33"),
    "action.order": _without("action.order"),
    "user_id": _with("user_id", "12"),
    "source.root.resource_id": _with("source.root.resource_id", {"$gt": 0}),
    "source.root.type": _without("source.root.type"),
    "source.root.panel_id": _with("source.root.panel_id", "v3"),
    "source.page_id": _with("source.page_id", {"$ne": None}),
    "target": _without("target"),
    "action.text": _with("action.text", None),
}


@pytest.mark.parametrize("field", BAD_ACTIONS)
def test_a_bad_field_is_a_400_naming_it_and_nothing_is_stored(client, db, field):
    response = client.post("/user_actions", json=BAD_ACTIONS[field])
    assert response.status_code == 400
    body = response.get_json()
    assert list(body["errors"]) == [field], body
    assert stored(db) == []


def test_every_bad_field_is_named_at_once(client, db):
    action = example(user_id={"$gt": 1}, timestamp="yesterday")
    del action["action"]["order"]
    del action["source"]["root"]["type"]
    action["source"]["root"]["panel_id"] = "v3"
    errors = client.post("/user_actions", json=action).get_json()["errors"]
    assert set(errors) == {"user_id", "timestamp", "action.order", "source.root.type", "source.root.panel_id"}


def test_an_array_with_one_bad_item_stores_nothing(client, db):
    journey = make_journey()
    journey[3]["source"]["visit_id"] = "not-a-uuid"
    response = client.post("/user_actions", json=journey)
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"3.source.visit_id": "'not-a-uuid' is not a 'uuid'"}
    assert stored(db) == []


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_a_date_python_cannot_hold_is_a_400(client, db, moment):
    response = client.post("/user_actions", json=[example(), example(timestamp=moment)])
    assert response.status_code == 400
    assert list(response.get_json()["errors"]) == ["1.timestamp"]
    assert stored(db) == []


@pytest.mark.parametrize("body, path", [
    ("5", "$"), ('"action"', "$"), ("null", "$"), ("[5]", "0"), (f"[{json.dumps(EXAMPLE)}, []]", "1"),
])
def test_a_body_that_is_not_actions_is_a_400(client, db, body, path):
    response = client.post("/user_actions", data=body, content_type="application/json")
    assert response.status_code == 400
    assert path in response.get_json()["errors"]


def test_malformed_json_and_wrong_content_type_are_4xx_json(client, db):
    malformed = client.post("/user_actions", data="{", content_type="application/json")
    assert malformed.status_code == 400 and "errors" in malformed.get_json()
    wrong_type = client.post("/user_actions", data="x=1", content_type="application/x-www-form-urlencoded")
    assert wrong_type.status_code == 415 and "errors" in wrong_type.get_json()


def test_an_empty_array_stores_nothing(client, db):
    assert client.post("/user_actions", json=[]).status_code == 204
    assert stored(db) == []


def test_a_write_needs_a_token_when_tokens_are_configured(settings, app, db):
    secured = create_app(settings | {"API_TOKENS": ["write-token"]}).test_client()
    app.extensions["celery"].set_default()
    assert secured.post("/user_actions", json=example()).status_code == 401
    ok = secured.post("/user_actions", json=example(), headers={"Authorization": "Bearer write-token"})
    assert ok.status_code == 204
    assert len(stored(db)) == 1


def test_swagger_shows_the_model_that_validates(client):
    spec = client.get("/swagger.json").get_json()
    assert spec["definitions"]["UserAction"]["required"] == ["action", "source", "target", "timestamp", "unique_id"]
    assert spec["definitions"]["UserActionRoot"]["required"] == ["type"]
    assert "all or nothing" in spec["paths"]["/user_actions"]["post"]["summary"]


def _docs(count: int, prefix: str) -> list[dict]:
    return [{"_id": f"{prefix}-{i}", "unique_id": str(uuid.uuid4())} for i in range(count)]


def test_concurrent_writers_share_batches_and_each_hears_its_own_outcome(app, db):
    writes = DurableInserts(UserAction, max_batch=50)
    results, errors = {}, []
    db["user_actions"].insert_one({"_id": "w3-0"})  # already stored: a retry

    def write(number: int) -> None:
        try:
            results[number] = writes.insert(_docs(10, f"w{number}"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(number,)) for number in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert results == {number: (9 if number == 3 else 10) for number in range(16)}
    assert db["user_actions"].count_documents({}) == 160
