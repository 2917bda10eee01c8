"""Durable inserts of user actions and events: not retryable writes on the server, and a batch
whose connection is lost is written again once (SecantusDB with mongod's `failCommand`)."""
import uuid

import pytest
from pymongo import MongoClient, WriteConcern
from pymongo.errors import AutoReconnect

from app.marketplace.user_actions import ACTION_WRITES
from app.storage.interactions import _insert_retrying_once
from devstack import services
from tests.conftest import LOGS
from tests.fixtures.mongo_commands import recorded_commands


@pytest.fixture(scope="module")
def failing_collection():
    LOGS.mkdir(parents=True, exist_ok=True)
    port = services.free_port()
    proc = services.start_mongo(port, ":memory:", LOGS / "mongo-insert-failpoints.log",
                                extra=("--enable-test-commands",))
    client = MongoClient(port=port, retryWrites=False)
    try:
        yield client["durable"]["actions"].with_options(write_concern=WriteConcern(w=1, j=True))
    finally:
        client.admin.command("configureFailPoint", "failCommand", mode="off")
        client.close()
        services.stop(proc)


def drop_inserts(collection, times: int) -> None:
    collection.database.client.admin.command(
        "configureFailPoint", "failCommand", mode={"times": times},
        data={"failCommands": ["insert"], "closeConnection": True})


def docs(count: int) -> list[dict]:
    return [{"_id": uuid.uuid4().hex, "n": n} for n in range(count)]


def test_action_writes_are_durable_and_leave_no_retryable_write_record_on_the_server(app, db):
    with app.app_context(), recorded_commands("insert") as inserts:
        assert ACTION_WRITES.insert(docs(3)) == 3
    assert len(inserts) == 1 and inserts[0]["insert"] == "user_actions"
    assert "txnNumber" not in inserts[0]  # what makes the server keep a record of the write
    assert inserts[0]["writeConcern"] == {"w": "majority", "j": True}


def test_a_batch_whose_connection_is_lost_is_written_again_once(failing_collection, caplog):
    batch = docs(5)
    drop_inserts(failing_collection, times=1)
    _insert_retrying_once(failing_collection, batch)
    assert failing_collection.count_documents({"_id": {"$in": [doc["_id"] for doc in batch]}}) == 5
    assert any("writing the batch again" in record.getMessage() for record in caplog.records)


def test_a_batch_that_loses_its_connection_twice_fails_and_its_caller_hears_it(failing_collection):
    batch = docs(2)
    drop_inserts(failing_collection, times=2)
    with pytest.raises(AutoReconnect):
        _insert_retrying_once(failing_collection, batch)
