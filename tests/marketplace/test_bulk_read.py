"""The trainers' bulk read survives lost connections: a SecantusDB of its own with
mongod's test commands, whose `failCommand` fail point drops the connection of a
getMore, as a heartbeat timeout or a failover does mid-read."""
from datetime import datetime, timedelta, timezone

import pytest
from pymongo import ASCENDING, MongoClient
from pymongo.errors import AutoReconnect

from app.marketplace import history
from app.marketplace.history import oldest_first
from devstack import services
from tests.conftest import LOGS

START = datetime(2026, 3, 1, tzinfo=timezone.utc)
# Many documents share a timestamp, so a resume must skip the ones it read at the last one.
DOCS = [{"_id": f"a{n:04d}", "timestamp": START + timedelta(seconds=n // 7), "n": n} for n in range(2_000)]


@pytest.fixture(scope="module")
def collection():
    LOGS.mkdir(parents=True, exist_ok=True)
    port = services.free_port()
    proc = services.start_mongo(port, ":memory:", LOGS / "mongo-failpoints.log", extra=("--enable-test-commands",))
    client = MongoClient(port=port, tz_aware=True)
    try:
        docs = client["bulk_read"]["actions"]
        docs.create_index([("timestamp", ASCENDING)])
        docs.insert_many(DOCS)
        yield docs
    finally:
        client.admin.command("configureFailPoint", "failCommand", mode="off")
        client.close()
        services.stop(proc)


def drop_connections(collection, times: int | None, commands=("getMore",)) -> None:
    """The next `times` of these commands lose their connection (every one when None)."""
    collection.database.client.admin.command(
        "configureFailPoint", "failCommand", mode="alwaysOn" if times is None else {"times": times},
        data={"failCommands": list(commands), "closeConnection": True})


def resumes(caplog) -> int:
    return sum(r.name == history.log.name and "again" in r.getMessage() for r in caplog.records)


def test_a_lost_connection_mid_read_resumes_where_it_stopped_without_repeats_or_gaps(collection, caplog):
    drop_connections(collection, times=3)
    read = [doc["n"] for doc in oldest_first(collection, {"n": 1, "timestamp": 1}, per_window=700)]
    assert resumes(caplog) == 3
    assert sorted(read) == list(range(len(DOCS)))  # every document once
    assert [DOCS[n]["timestamp"] for n in read] == sorted(doc["timestamp"] for doc in DOCS)


def test_a_read_from_a_timestamp_resumes_from_there_too(collection):
    since = DOCS[700]["timestamp"]
    drop_connections(collection, times=2)
    read = [doc["n"] for doc in oldest_first(collection, {"n": 1, "timestamp": 1}, since=since, per_window=700)]
    assert sorted(read) == [doc["n"] for doc in DOCS if doc["timestamp"] >= since]


def test_a_read_that_never_gets_on_gives_up_after_a_bounded_number_of_resumes(collection, caplog):
    drop_connections(collection, times=None)
    try:
        with pytest.raises(AutoReconnect):
            list(oldest_first(collection, {"n": 1, "timestamp": 1}, per_window=700))
    finally:
        drop_connections(collection, times=0)
    assert resumes(caplog) == history.BULK_READ_RESUMES
