"""The soak benchmark's writes and dumps are what the API accepts."""
import random

from app.wire.dump import check_dump
from benchmarks.soak import action, memory_lines, variant, visitor_population
from tests.fixtures.dumps import make_dump


def test_the_soak_s_user_actions_are_stored_and_its_dump_variants_differ(client, db):
    dump = make_dump(n_services=10, n_users=5, seed=3)
    rng = random.Random(0)
    for user in (dump["users"][0], None):
        body = action(user, dump["services"][0]["id"], rng)
        answer = client.post("/user_actions", json=body)
        assert answer.status_code == 204, answer.get_json()
        assert db["user_actions"].count_documents({"_id": body["id"]}) == 1
    first, second = variant(dump, 1), variant(dump, 2)
    assert first != second and first["users"] == dump["users"]
    check_dump(first)  # raises InvalidDump naming the field otherwise


def test_the_soak_s_visitors_come_back_and_some_are_logged_in():
    users = make_dump(n_services=3, n_users=20, seed=1)["users"]
    visitors = visitor_population(users, 1000)
    assert visitors == visitor_population(users, 1000)  # the same people on every run
    assert len({unique_id for unique_id, _ in visitors}) == 1000
    logged_in = sum(user is not None for _, user in visitors)
    assert 600 < logged_in < 800
    body = action(visitors[0][1], 5, random.Random(0), visitors[0][0])
    assert body["unique_id"] == visitors[0][0]


def test_memory_lines_compare_after_warm_up_and_size_redis_per_key():
    samples = [(0.0, {"api": 100.0, "redis keys": 0.0, "redis used MB": 1.0}),
               (30.0, {"api": 200.0, "redis keys": 1000.0, "redis used MB": 2.0}),
               (60.0, {"api": 210.0, "redis keys": 3000.0, "redis used MB": 4.0})]
    lines = memory_lines(samples, minutes=1)  # warm-up is the first 12 s
    api = next(line for line in lines if line.startswith("| api "))
    assert "| 200 MB |" in api and "+5.0%" in api
    assert lines[-1] == "- Redis: 1049 bytes in use per key added after warm-up"
