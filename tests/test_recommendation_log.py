"""The served-recommendation log stores what it was given, in the background."""
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


def test_a_full_queue_drops_records_instead_of_blocking():
    writer = BackgroundWriter(ServedRecommendation, max_queued=0)
    record = RawBSONDocument(bson.encode(served_record("x", CONTEXT, [1], [0.5], "NCF", "v")))
    assert writer.append(record) is False
    assert writer.dropped == 1
    assert writer.flush(1)
