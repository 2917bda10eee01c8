"""The soak benchmark's writes and dumps are what the API accepts."""
import random

from app.marketplace.dumps import validate_dump
from benchmarks.soak import action, variant
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
    validate_dump(first)  # raises InvalidDump naming the field otherwise
