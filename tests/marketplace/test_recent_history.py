"""The Redis copy of each identity's latest interactions: always what MongoDB would answer."""
from datetime import timedelta

import pytest
import redis

from app import create_app
from app.marketplace import recent_history
from app.marketplace.history import user_history, visitor_history
from app.recommendation_log import flush_served
from tests.fixtures.journeys import make_journey
from tests.marketplace.test_history import USER, VISITOR, at, event, post_all


def _from_database(user_id=None, unique_id=None) -> list[tuple]:
    """What MongoDB answers, as (service, type, seconds), each interaction once."""
    records = dict.fromkeys((i.service_id, i.type, i.timestamp.timestamp()) for i in
                            [*(user_history(user_id) if user_id is not None else []),
                             *(visitor_history(unique_id) if unique_id is not None else [])])
    return sorted(records, key=lambda record: record[2])


def _recent(user_id=None, unique_id=None) -> list[tuple]:
    return [(i.service_id, i.type, i.timestamp) for i in recent_history.recent(user_id, unique_id)]


def _cached(identity: str) -> bool:
    client = recent_history._client()
    return client.zscore(recent_history._keys(identity)[0], recent_history.MARKER) is not None


def test_a_miss_fills_the_copy_and_later_writes_reach_it(app, client, db):
    post_all(client, make_journey(user_id=USER, service_id=1, start=at(10)), [event("view", 3, 5)])
    with app.app_context():
        assert not _cached(f"user:{USER}")
        first = _recent(USER)
        assert first == _from_database(USER) and len(first) == 3  # view, click, order
        assert _cached(f"user:{USER}")
    post_all(client, make_journey(user_id=USER, service_id=2, start=at(30), order=False),
             [event("cart", 2, 31), event("view", 7, 40, user_id=None, unique_id=VISITOR)])
    with app.app_context():
        second = _recent(USER)
        assert second == _from_database(USER) and len(second) == 5
        assert _cached(f"user:{USER}")  # answered from the copy, which the writes updated


def test_writes_create_no_copy_of_an_identity_nobody_asked_about(app, client, db):
    post_all(client, make_journey(user_id=USER, service_id=1, start=at(10), order=False), [event("view", 3, 5)])
    with app.app_context():
        client_ = recent_history._client()
        assert not client_.exists(recent_history._keys(f"user:{USER}")[0])


def test_a_user_and_their_visit_count_each_interaction_once(app, client, db):
    post_all(client, [], [event("view", 3, 5, unique_id=VISITOR), event("view", 4, 6, user_id=None, unique_id=VISITOR)])
    with app.app_context():
        for _ in range(2):  # from MongoDB, then from the copies
            assert _recent(USER, VISITOR) == [(3, "view", at(5).timestamp()), (4, "view", at(6).timestamp())]
            assert _cached(f"user:{USER}") and _cached(f"visitor:{VISITOR}")  # both filled by the first read


def test_a_retried_event_is_not_counted_twice(app, client, db):
    retried = event("view", 3, 5, id="client-id-1")
    post_all(client, [], [retried])
    with app.app_context():
        _recent(USER)
    post_all(client, [], [retried, event("view", 4, 6)])
    with app.app_context():
        assert _recent(USER) == _from_database(USER) == [(3, "view", at(5).timestamp()), (4, "view", at(6).timestamp())]


def test_a_fill_that_raced_a_write_is_dropped(app, client, db):
    post_all(client, [], [event("view", 3, 5)])
    with app.app_context():
        redis_client = recent_history._client()
        [(hit, _, writes_seen)] = recent_history._read(redis_client, [f"user:{USER}"], 100)
        stale = [{"id": "x", "service_id": 3, "type": "view", "timestamp": at(5)}]
    assert not hit
    post_all(client, [], [event("view", 4, 6)])  # lands between the reader's MongoDB query and its fill
    with app.app_context():
        recent_history._fill(redis_client, [(f"user:{USER}", stale, writes_seen)])
        assert not _cached(f"user:{USER}")
        assert _recent(USER) == _from_database(USER) == [(3, "view", at(5).timestamp()), (4, "view", at(6).timestamp())]


def test_a_fill_redis_cannot_take_leaves_the_answer_and_no_set(app, client, db, caplog):
    post_all(client, [], [event("view", 3, 5, unique_id=VISITOR)])
    with app.app_context():
        [(_, _, user_writes), (_, _, visitor_writes)] = recent_history._read(
            recent_history._client(), [f"user:{USER}", f"visitor:{VISITOR}"], 100)
        unreachable = redis.Redis(port=1, socket_connect_timeout=0.2)
        item = {"id": "x", "service_id": 3, "type": "view", "timestamp": at(5)}
        recent_history._fill(unreachable, [(f"user:{USER}", [item], user_writes),
                                           (f"visitor:{VISITOR}", [item], visitor_writes)])  # no exception
        assert "history cache fill failed" in caplog.text
        assert not _cached(f"user:{USER}") and not _cached(f"visitor:{VISITOR}")


def test_an_order_resolved_as_it_is_stored_reaches_the_copy(app, client, db):
    *browsing, order = make_journey(user_id=USER, service_id=1, start=at(10))
    post_all(client, browsing, [])
    with app.app_context():
        _recent(USER)
    post_all(client, [order], [])
    with app.app_context():
        assert _cached(f"user:{USER}")
        assert _recent(USER) == _from_database(USER) == [
            (1, "click", at(10).timestamp()), (1, "order", (at(10) + timedelta(seconds=100)).timestamp())]


def test_an_order_whose_journey_is_not_stored_drops_the_copy(app, client, db):
    *browsing, order = make_journey(user_id=USER, service_id=1, start=at(10))
    post_all(client, browsing[:1], [])
    with app.app_context():
        _recent(USER)
    post_all(client, [order], [])  # its journey's middle is missing: no service for it yet
    with app.app_context():
        assert not _cached(f"user:{USER}")
        assert _recent(USER) == _from_database(USER) == [(1, "click", at(10).timestamp())]


def test_deleting_a_user_deletes_the_copies(app, client, db):
    post_all(client, [], [event("view", 3, 5, unique_id=VISITOR)])
    with app.app_context():
        _recent(USER, VISITOR)
        assert _cached(f"user:{USER}") and _cached(f"visitor:{VISITOR}")
    assert client.delete(f"/users/{USER}").status_code == 200
    flush_served()
    with app.app_context():
        assert not _cached(f"user:{USER}") and not _cached(f"visitor:{VISITOR}")
        assert _recent(USER, VISITOR) == []


def test_the_limit_keeps_the_latest(app, client, db):
    post_all(client, [], [event("view", 100 + minute, minute) for minute in range(10)])
    with app.app_context():
        for _ in range(2):
            assert [record.service_id for record in recent_history.recent(USER, None, limit=3)] == [107, 108, 109]
        recent_history.forget_all()
        assert recent_history.recent(USER, None, limit=0) == []  # read from MongoDB
        assert recent_history.recent(USER, None, limit=0) == []  # from the copy


@pytest.mark.parametrize("change", [{"HISTORY_CACHE_TTL_SECONDS": 0},
                                    {"HISTORY_CACHE_REDIS_URL": "redis://127.0.0.1:1/0"}],
                         ids=["turned off", "Redis unreachable"])
def test_without_the_cache_reads_go_to_mongodb(settings, db, change):
    app = create_app(settings | change)
    app.test_client().post("/events", json={"events": [event("view", 3, 5)]})
    with app.app_context():
        assert _recent(USER) == _from_database(USER) == [(3, "view", at(5).timestamp())]
    with create_app(settings).app_context():
        assert not recent_history._client().exists(recent_history._keys(f"user:{USER}")[0])


def test_forget_all_drops_only_this_databases_copies(app, client, db, settings):
    post_all(client, [], [event("view", 3, 5)])
    with app.app_context():
        _recent(USER)
        other = redis.Redis.from_url(settings["REDIS_URL"])
        other.set("unrelated-key", "1")
        assert recent_history.forget_all() >= 1
        assert not _cached(f"user:{USER}") and other.get("unrelated-key") == b"1"
        other.delete("unrelated-key")


def test_a_deletion_the_cache_cannot_follow_is_a_503_and_a_retry_completes_it(settings, app, client, db):
    post_all(client, [], [event("view", 3, 5)])
    with app.app_context():
        _recent(USER)
    cut_off = create_app(settings | {"HISTORY_CACHE_REDIS_URL": "redis://127.0.0.1:1/0"}).test_client()
    response = cut_off.delete(f"/users/{USER}")
    assert response.status_code == 503 and "history_cache" in response.get_json()["errors"]
    assert db["events"].count_documents({"user_id": USER}) == 1  # nothing deleted yet
    assert client.delete(f"/users/{USER}").status_code == 200
    with app.app_context():
        assert not _cached(f"user:{USER}") and _recent(USER) == []
