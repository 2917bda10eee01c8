"""The served-recommendation log stores what it was given, in the background."""
import subprocess
import sys
import time
import uuid

import bson
import numpy as np
import pytest
from bson.errors import InvalidDocument
from bson.raw_bson import RawBSONDocument

from app.recommendation_log import (
    BackgroundWriter,
    flush_served,
    log_served,
    served_record,
)
from app.storage.interactions import ServedRecommendation
from tests.conftest import ROOT, settings_env

CONTEXT = {
    "user_id": 1234, "unique_id": "5642C351-80FE-44CF-B606-304F2F338122",
    "visit_id": "202090a4-de4c-4230-acba-6e2931d9e37c", "page_id": "/services", "panel_id": "v1",
    "client_id": "marketplace", "timestamp": "2021-03-18T19:33:21.620Z",
    "search_data": {"q": "cloud", "categories": [1, 2]}, "candidates": [5, 6, 7],
}


def test_the_log_stores_what_it_was_given(app, db):
    recommendation_id = log_served(CONTEXT, np.array([7, 5]), np.array([0.75, 0.5], dtype=np.float32),
                                   "NCF", "65f0c0ffee", probabilities=[0.6, 0.4])
    assert uuid.UUID(recommendation_id)
    assert flush_served(5)
    record = db["recommendations"].find_one({"_id": recommendation_id})
    assert record["service_ids"] == [7, 5] and record["scores"] == [0.75, 0.5]
    assert record["probabilities"] == [0.6, 0.4]
    assert record["engine"] == "NCF" and record["model_version"] == "65f0c0ffee"
    assert record["request"] == CONTEXT  # everything asked, as given
    assert record["user_id"] == 1234 and record["visit_id"] == CONTEXT["visit_id"]
    assert record["unique_id"] == CONTEXT["unique_id"].lower()  # joins with stored user actions
    assert record["created_at"].tzinfo is not None


def test_optional_parts_may_be_missing(app, db):
    recommendation_id = log_served({"unique_id": str(uuid.uuid4())}, [], [], "Random", None)
    assert flush_served(5)
    record = db["recommendations"].find_one({"_id": recommendation_id})
    assert record["service_ids"] == [] and "model_version" not in record and "user_id" not in record


def test_records_arrive_without_an_explicit_flush(app, db):
    ids = {log_served(CONTEXT, [1, 2, 3], [0.3, 0.2, 0.1], "NCF", "v") for _ in range(50)}
    deadline = time.monotonic() + 10
    while db["recommendations"].count_documents({}) < len(ids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert set(db["recommendations"].distinct("_id")) == ids


def test_a_record_bson_cannot_hold_fails_on_the_callers_thread(app, db):
    with pytest.raises(InvalidDocument):
        log_served({**CONTEXT, "candidates": {1, 2}}, [1], [0.5], "NCF", "v")


def test_a_request_key_bson_cannot_hold_is_left_out_of_the_record(app, db):
    extra = {"\x00bad": 1, "kept": {"inner\x00": 2, "fine": [{"\x00": 3, "ok": 4}]}}
    with app.app_context():
        recommendation_id = log_served({**CONTEXT, **extra}, [1], [0.5], "NCF", "v")
        assert flush_served()
    stored = db["recommendations"].find_one({"_id": recommendation_id})
    assert stored["request"]["kept"] == {"fine": [{"ok": 4}]} and "\x00bad" not in stored["request"]


def test_a_request_integer_beyond_64_bits_is_kept_as_its_digits(app, db):
    extra = {"big": [2**70, {"deep": -(2**64)}], "fine": 2**63 - 1, "flag": True}
    with app.app_context():
        recommendation_id = log_served({**CONTEXT, **extra}, [1], [0.5], "NCF", "v")
        assert flush_served()
    stored = db["recommendations"].find_one({"_id": recommendation_id})["request"]
    assert stored["big"] == [str(2**70), {"deep": str(-(2**64))}]
    assert stored["fine"] == 2**63 - 1 and stored["flag"] is True


def test_a_full_queue_drops_records_instead_of_blocking():
    writer = BackgroundWriter(ServedRecommendation, max_queued=0)
    record = RawBSONDocument(bson.encode(served_record("x", CONTEXT, [1], [0.5], "NCF", "v")))
    assert writer.append(record) is False
    assert writer.dropped == 1
    assert writer.flush(1)


class _BatchSizes(BackgroundWriter):
    """A writer that notes the size of each batch it stores."""

    def __init__(self, **options):
        super().__init__(ServedRecommendation, **options)
        self.batches = []

    def _write(self, batch):
        self.batches.append(len(batch))
        super()._write(batch)


def _records(count):
    return [RawBSONDocument(bson.encode(served_record(str(uuid.uuid4()), CONTEXT, [1], [0.5], "NCF", "v")))
            for _ in range(count)]


def test_records_queued_within_the_linger_are_written_together(app, db):
    writer = _BatchSizes(linger=2.0)
    for record in _records(30):
        assert writer.append(record)
    deadline = time.monotonic() + 10
    while db["recommendations"].count_documents({}) < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.batches == [30]


def test_a_full_batch_is_written_without_waiting_for_the_linger(app, db):
    writer = _BatchSizes(linger=60.0, max_batch=10)
    for record in _records(25):
        writer.append(record)
    deadline = time.monotonic() + 10
    while db["recommendations"].count_documents({}) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.batches[:2] == [10, 10]
    assert writer.flush(5)  # the last five go at once: a flush does not wait for the linger either
    assert db["recommendations"].count_documents({}) == 25 and sum(writer.batches) == 25


def test_the_log_writes_through_a_client_that_leaves_retries_to_it(app, db):
    from app.storage import database
    from app.storage.connection import database_without_write_retries

    with app.app_context():
        assert database().client.options.retry_writes is True  # every other write keeps the driver's retry
        assert database_without_write_retries().client.options.retry_writes is False
        assert database_without_write_retries().name == database().name
        writer = _BatchSizes(linger=0.0)
        for record in _records(3):
            writer.append(record)
        assert writer.flush(10)
        assert db["recommendations"].count_documents({}) == 3


# A process that logs and exits at once, before the writer's linger is over: only
# the exit handler can write what is queued. Under gevent the writer is a greenlet.
LOG_AND_EXIT = """
import sys
if sys.argv[1] == "gevent":
    from gevent import monkey; monkey.patch_all()
from app import create_app
from app.recommendation_log import log_served
with create_app().app_context():
    for number in range(20):
        log_served({"visit_id": f"exit-{sys.argv[1]}-{number}"}, [1, 2], [0.5, 0.4], "Random", None)
"""


@pytest.mark.parametrize("threading_kind", ["threads", "gevent"])
def test_what_is_queued_at_exit_is_written_before_the_process_ends(settings, db, threading_kind):
    done = subprocess.run([sys.executable, "-c", LOG_AND_EXIT, threading_kind], cwd=ROOT,
                          env=settings_env(settings), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    stored = db["recommendations"].distinct("visit_id", {"visit_id": {"$regex": f"^exit-{threading_kind}-"}})
    assert len(stored) == 20
