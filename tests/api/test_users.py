"""DELETE /users/<id>: one user's interaction data goes, nobody else's; models go stale."""
import uuid

import pytest

from app import create_app
from app.recommendation_log import flush_served, log_served
from app.storage.models import ModelVersion
from tests.fixtures.journeys import make_journey

ALICE, BOB = 101, 202


def event(user_id=None, unique_id=None, service_id=5, at="2021-03-18T20:00:00Z") -> dict:
    return {"user_id": user_id, "unique_id": unique_id, "service_id": service_id, "type": "view", "timestamp": at}


@pytest.fixture
def two_users(client, db):
    """Alice browses anonymously then logs in in one session; Bob uses the same browser later
    and has a session of his own; a stranger's anonymous session is unrelated."""
    shared, alices, bobs, strangers = (str(uuid.uuid4()) for _ in range(4))
    actions = (
        make_journey(user_id=None, unique_id=shared, service_id=1)  # Alice before logging in
        + make_journey(user_id=ALICE, unique_id=shared, service_id=2)
        + make_journey(user_id=ALICE, unique_id=alices, service_id=3, order=False)
        + make_journey(user_id=BOB, unique_id=shared, service_id=4)
        + make_journey(user_id=BOB, unique_id=bobs, service_id=5)
        + make_journey(user_id=None, unique_id=strangers, service_id=6)
    )
    assert client.post("/user_actions", json=actions).status_code == 204
    events = [event(ALICE), event(None, alices, at="2021-03-18T20:01:00Z"), event(BOB), event(None, strangers)]
    assert client.post("/events", json={"events": events}).status_code == 204
    for user_id, session in ((ALICE, alices), (None, alices), (BOB, bobs)):
        log_served({"user_id": user_id, "unique_id": session, "visit_id": str(uuid.uuid4())}, [1, 2, 3],
                   [0.9, 0.5, 0.1], "NCF", "v1")
    assert flush_served(5)
    return {"shared": shared, "alices": alices, "bobs": bobs, "strangers": strangers}


def counts(db, query: dict) -> dict:
    return {name: db[name].count_documents(query) for name in ("user_actions", "events", "recommendations")}


def test_deleting_a_user_removes_exactly_their_data(client, db, two_users):
    bob_before = counts(db, {"user_id": BOB})
    stranger_before = counts(db, {"unique_id": two_users["strangers"]})
    response = client.delete(f"/users/{ALICE}")
    assert response.status_code == 200
    assert response.get_json() == {
        "user_id": ALICE,
        # 6 + 6 + 5 actions, their own event and the session's anonymous one, two served lists
        "deleted": {"user_actions": 17, "events": 2, "recommendations": 2, "shadow_recommendations": 0,
                    "experiment_units": 0},
        "models_marked_stale": 0,
    }
    assert counts(db, {"user_id": ALICE}) == {"user_actions": 0, "events": 0, "recommendations": 0}
    assert counts(db, {"unique_id": two_users["alices"]}) == {"user_actions": 0, "events": 0, "recommendations": 0}
    assert counts(db, {"user_id": BOB}) == bob_before  # Bob's actions in the shared browser stay
    assert counts(db, {"unique_id": two_users["strangers"]}) == stranger_before


def test_deletion_is_idempotent_and_an_unknown_user_gets_zero_counts(client, db, two_users):
    assert client.delete(f"/users/{ALICE}").status_code == 200
    again = client.delete(f"/users/{ALICE}")
    assert again.status_code == 200
    nothing = {"user_actions": 0, "events": 0, "recommendations": 0, "shadow_recommendations": 0,
               "experiment_units": 0}
    assert again.get_json()["deleted"] == nothing
    assert client.delete("/users/999999").get_json()["deleted"] == nothing


def test_actions_stored_under_the_users_identity_are_deleted_too(client, db):
    db["users"].insert_one({"snapshot_id": "old", "marketplace_id": ALICE, "aai_uid": "alice@egi.eu"})
    session = str(uuid.uuid4())
    # No active snapshot: the identities stay unresolved.
    alices = make_journey(user_id=None, aai_uid="alice@egi.eu", unique_id=session)
    bobs = make_journey(user_id=None, aai_uid="bob@egi.eu", unique_id=session)
    assert client.post("/user_actions", json=alices + bobs).status_code == 204
    assert client.delete(f"/users/{ALICE}").get_json()["deleted"]["user_actions"] == 6
    assert db["user_actions"].distinct("aai_uid") == ["bob@egi.eu"]


def test_models_trained_on_the_data_are_marked_stale(client, db, two_users):
    versions = {status: ModelVersion(engine="NCF", status=status).save().id
                for status in ("candidate", "active", "retired")}
    assert client.delete(f"/users/{ALICE}").get_json()["models_marked_stale"] == 2
    stale = {status: ModelVersion.objects.get(id=version_id) for status, version_id in versions.items()}
    assert stale["candidate"].stale and stale["active"].stale
    assert f"user {ALICE}" in stale["active"].stale_reason
    assert not stale["retired"].stale


def test_nothing_deleted_marks_nothing_stale(client, db):
    version = ModelVersion(engine="NCF", status="active").save()
    assert client.delete("/users/31337").get_json()["models_marked_stale"] == 0
    assert not ModelVersion.objects.get(id=version.id).stale


@pytest.mark.parametrize("path, status", [("/users/abc", 404), ("/users/-1", 404), ("/users/1.5", 404),
                                          ("/users/99999999999999999999", 400)])
def test_an_id_that_cannot_be_a_users_is_4xx_json(client, db, path, status):
    response = client.delete(path)
    assert response.status_code == status
    assert response.get_json()["errors"]


def test_deletion_needs_a_write_token_when_tokens_are_configured(settings, app, db):
    secured = create_app(settings | {"API_TOKENS": ["write-token"]}).test_client()
    app.extensions["celery"].set_default()
    assert secured.delete(f"/users/{ALICE}").status_code == 401
    assert secured.delete(f"/users/{ALICE}", headers={"Authorization": "Bearer write-token"}).status_code == 200
