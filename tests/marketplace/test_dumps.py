"""Dumps become dataset snapshots: validated, stored once, ingested, switched in one step."""
import copy
import json
from datetime import timedelta

import pytest

from app.errors import InvalidInput
from app.marketplace import catalogue, dumps, ingestion, pruning, serving_catalogue
from app.storage.jobs import utcnow
from app.storage.marketplace import DUMP_COLLECTIONS, Service
from app.storage.raw_dumps import raw_dump
from app.storage.snapshots import (
    DatasetSnapshot,
    DatasetWriterLease,
    active_snapshot_id,
)
from app.wire.dump import DUMP_KEYS
from tests.fixtures.dumps import make_dump


def stored_anything(db) -> bool:
    return bool(db["dumps.files"].count_documents({}) or db.dataset_snapshots.count_documents({}))


def expected_counts(dump: dict) -> dict:
    return {key: len(dump[key]) for key in DUMP_COLLECTIONS}


def active_after_ingesting(dump: dict, **kwargs) -> str:
    snapshot = dumps.store_dump(dump)
    assert ingestion.ingest_snapshot(snapshot.id, **kwargs)["status"] == "active"
    return snapshot.id


@pytest.fixture
def ctx(app, db):
    with app.app_context():
        yield db


@pytest.mark.parametrize("break_it, path", [
    (lambda d: d.pop("projects"), "projects"),
    (lambda d: d["services"][0].__setitem__("id", "12"), "services.0.id"),
    (lambda d: d["users"][3].__setitem__("accessed_services", "1,2"), "users.3.accessed_services"),
    (lambda d: d["services"][1].__setitem__("horizontal", "yes"), "services.1.horizontal"),
    (lambda d: d["projects"][2].__setitem__("user_id", {"$gt": 0}), "projects.2.user_id"),
    (lambda d: d["users"][0].__setitem__("aai_uid", {"$ne": None}), "users.0.aai_uid"),
    (lambda d: d["users"][1]["accessed_services"].append(2**70), "users.1.accessed_services.0"),
    (lambda d: d["trls"][0].pop("name"), "trls.0.name"),
    (lambda d: d["users"][4].__setitem__("id", d["users"][2]["id"]), "users.4.id"),
], ids=["missing key", "string id", "bad type", "bool as string", "operator object",
        "operator as string", "id too large", "missing field", "duplicate id"])
def test_an_invalid_dump_is_refused_naming_the_field_and_nothing_is_stored(ctx, break_it, path):
    dump = make_dump(n_services=10, n_users=20, seed=1)
    break_it(dump)
    if path == "users.1.accessed_services.0":
        path = f"users.1.accessed_services.{len(dump['users'][1]['accessed_services']) - 1}"
    with pytest.raises(InvalidInput) as refused:
        dumps.store_dump(dump)
    assert path in refused.value.errors, refused.value.errors
    assert not stored_anything(ctx)


def test_extra_keys_are_ignored_and_not_stored(ctx):
    dump = make_dump(n_services=10, n_users=20, seed=1, extras=True)
    snapshot_id = active_after_ingesting(dump)
    service = ctx.services.find_one({"snapshot_id": snapshot_id})
    assert "slug" not in service and "webpage_url" not in service
    assert "generated_at" not in raw_dump(snapshot_id)


def test_the_same_dump_twice_is_one_snapshot_and_one_ingestion(ctx):
    dump = make_dump(n_services=10, n_users=20, seed=1)
    first = active_after_ingesting(dump)
    again = dumps.store_dump(copy.deepcopy(dump))
    assert again.id == first
    assert ingestion.ingest_snapshot(again.id)["status"] == "unchanged"
    assert ctx.dataset_snapshots.count_documents({}) == 1
    assert ctx["dumps.files"].count_documents({}) == 1
    assert catalogue.counts(first) == expected_counts(dump)


def test_reads_see_the_old_snapshot_until_the_switch(ctx):
    old = active_after_ingesting(make_dump(n_services=20, n_users=50, seed=1))
    new = dumps.store_dump(make_dump(n_services=30, n_users=80, seed=2))
    seen = []

    def progress(step, percent, **details):
        seen.append((step, active_snapshot_id(), catalogue.counts(old)["services"]))

    assert ingestion.ingest_snapshot(new.id, progress=progress)["status"] == "active"
    before_switch = [entry for entry in seen if entry[0] != "switching"]
    assert len(before_switch) > 5 and all(active == old and services == 20 for _, active, services in before_switch)
    assert active_snapshot_id() == new.id
    assert len(catalogue.recommendable_services()) == catalogue.counts(new.id)["services"] - sum(
        1 for s in make_dump(n_services=30, n_users=80, seed=2)["services"]
        if s["status"] not in ("published", "unverified")
    )


def test_an_ingestion_reports_the_seconds_of_its_steps(ctx):
    snapshot = dumps.store_dump(make_dump(n_services=10, n_users=20, seed=1))
    seconds = ingestion.ingest_snapshot(snapshot.id)["seconds"]
    assert {"loading", "checking references", "bookkeeping", *DUMP_COLLECTIONS} <= set(seconds)
    assert all(value >= 0 for value in seconds.values())
    assert "seconds" not in ingestion.ingest_snapshot(snapshot.id)  # unchanged: nothing written


def test_dangling_references_are_reported_not_fatal(ctx):
    dump = make_dump(n_services=10, n_users=20, seed=1)
    dump["services"][0]["categories"].append(9999)
    dump["users"][0]["accessed_services"].append(8888)
    dump["projects"][0]["user_id"] = 7777
    del dump["services"][1]["status"]
    snapshot = dumps.store_dump(dump)
    result = ingestion.ingest_snapshot(snapshot.id)
    assert result["status"] == "active"
    problems = result["problems"]
    assert problems["services/categories"]["count"] == 1
    assert problems["services/categories"]["examples"] == [{"id": dump["services"][0]["id"], "missing": 9999}]
    assert problems["users/accessed_services"]["examples"] == [{"id": dump["users"][0]["id"], "missing": 8888}]
    assert problems["projects/user_id"]["count"] == 1
    assert problems["services/status"]["count"] == 1
    assert DatasetSnapshot.objects.get(id=snapshot.id).problems == problems
    assert catalogue.counts(snapshot.id) == expected_counts(dump)  # everything stored as sent


def test_services_keep_their_status_and_only_recommendable_ones_are_served(ctx):
    dump = make_dump(n_services=40, n_users=20, seed=3)
    statuses = {service["id"]: service["status"] for service in dump["services"]}
    snapshot_id = active_after_ingesting(dump)
    stored = {s.marketplace_id: s.status for s in Service.objects(snapshot_id=snapshot_id)}
    assert stored == statuses
    assert {"draft", "deleted"} & set(statuses.values()), "the fixture should have unrecommendable services"
    served = catalogue.recommendable_services()
    assert [s["marketplace_id"] for s in served] == sorted(
        sid for sid, status in statuses.items() if status in ("published", "unverified")
    )
    assert all(s["recommendable"] and "snapshot_id" not in s and "_id" not in s for s in served)


def test_an_interrupted_ingestion_run_again_ends_correct(ctx):
    dump = make_dump(n_services=20, n_users=6000, n_projects=12000, seed=4)
    snapshot = dumps.store_dump(dump)

    def crash_midway(step, percent, **details):
        if step == "writing projects":
            raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError):
        ingestion.ingest_snapshot(snapshot.id, progress=crash_midway)
    partial = catalogue.counts(snapshot.id)
    assert 0 < partial["projects"] < 12000 and active_snapshot_id() is None
    assert DatasetSnapshot.objects.get(id=snapshot.id).status == "failed"
    assert ingestion.ingest_snapshot(snapshot.id)["status"] == "active"
    assert catalogue.counts(snapshot.id) == expected_counts(dump)


def test_a_killed_worker_leaves_a_lease_that_expires(ctx):
    dump = make_dump(n_services=20, n_users=50, seed=5)
    snapshot = dumps.store_dump(dump)
    # What a SIGKILL mid-ingest leaves: a held lease, an "ingesting" status, some documents.
    DatasetWriterLease(holder="ingest:dead-worker", expires_at=utcnow() - timedelta(seconds=1)).save()
    snapshot.update(status="ingesting", has_documents=True)
    ctx.users.insert_many([{"snapshot_id": snapshot.id, "marketplace_id": u["id"]} for u in dump["users"][:10]])
    assert ingestion.ingest_snapshot(snapshot.id)["status"] == "active"
    assert catalogue.counts(snapshot.id) == expected_counts(dump)
    assert ctx.users.find_one({"snapshot_id": snapshot.id, "marketplace_id": dump["users"][0]["id"]})["aai_uid"]


def test_a_dump_received_earlier_gives_up_to_a_later_one(ctx):
    earlier = dumps.store_dump(make_dump(n_services=10, n_users=20, seed=6))
    later_dump = make_dump(n_services=12, n_users=25, seed=7)
    later = dumps.store_dump(later_dump)
    assert ingestion.ingest_snapshot(earlier.id)["status"] == "superseded"
    assert catalogue.counts(earlier.id)["users"] == 0  # it gave up before writing
    assert ingestion.ingest_snapshot(later.id)["status"] == "active"
    # Even when the earlier one is ingested last, the later one stays active.
    assert ingestion.ingest_snapshot(earlier.id)["status"] == "superseded"
    assert active_snapshot_id() == later.id
    assert catalogue.counts(later.id) == expected_counts(later_dump)


def test_an_older_dump_sent_again_becomes_active_again_without_rewriting(ctx):
    first_dump = make_dump(n_services=10, n_users=20, seed=8)
    first = active_after_ingesting(first_dump)
    active_after_ingesting(make_dump(n_services=10, n_users=20, seed=9))
    again = dumps.store_dump(first_dump)
    steps = []
    result = ingestion.ingest_snapshot(again.id, progress=lambda step, *a, **k: steps.append(step))
    assert result["status"] == "active" and active_snapshot_id() == first
    assert steps == ["switching"]  # its documents were kept as the previous dataset


def test_pruning_keeps_the_active_and_the_previous_snapshot(ctx, app):
    ids = [active_after_ingesting(make_dump(n_services=10, n_users=20, seed=seed)) for seed in (10, 11, 12)]
    result = pruning.prune_snapshots()
    assert result["status"] == "pruned" and result["retired"] == [ids[0]]
    assert catalogue.counts(ids[0])["users"] == 0
    assert catalogue.counts(ids[1])["users"] == 20 and catalogue.counts(ids[2])["users"] == 20
    retired = DatasetSnapshot.objects.get(id=ids[0])
    assert retired.status == "retired" and not retired.has_documents
    assert len(raw_dump(ids[0])["users"]) == 20  # the raw dump stays, for lineage
    assert serving_catalogue.load(ids[0]) is None and retired.serving_file_id is None  # its serving file goes
    assert ctx["serving_catalogues.files"].count_documents({"metadata.snapshot_id": ids[0]}) == 0
    assert serving_catalogue.load(ids[1]) is not None
    app.config["DATASET_SNAPSHOTS_KEPT"] = 1
    try:
        assert pruning.prune_snapshots()["retired"] == [ids[1]]
    finally:
        app.config["DATASET_SNAPSHOTS_KEPT"] = 2
    assert catalogue.counts(ids[2])["users"] == 20


def test_a_retired_dump_sent_again_is_ingested_again(ctx):
    first_dump = make_dump(n_services=10, n_users=20, seed=13)
    first = active_after_ingesting(first_dump)
    for seed in (14, 15):
        active_after_ingesting(make_dump(n_services=10, n_users=20, seed=seed))
    pruning.prune_snapshots()
    assert dumps.store_dump(first_dump).status == "received"
    assert ingestion.ingest_snapshot(first)["status"] == "active"
    assert catalogue.counts(first) == expected_counts(first_dump)


def test_users_are_found_by_federated_identity_in_the_active_snapshot(ctx):
    dump = make_dump(n_services=10, n_users=20, seed=16)
    active_after_ingesting(dump)
    user = dump["users"][7]
    assert catalogue.user_by_aai_uid(user["aai_uid"]) == user["id"]
    assert catalogue.user_by_aai_uid("nobody@egi.eu") is None
    assert catalogue.user_by_aai_uid({"$ne": None}) is None


def test_reads_without_any_snapshot_are_empty(ctx):
    assert catalogue.recommendable_services() == []
    assert catalogue.user_by_aai_uid("someone@egi.eu") is None


def test_the_active_dump_sent_again_outranks_a_dump_received_before_it(ctx):
    active_dump = make_dump(n_services=10, n_users=20, seed=17)
    active = active_after_ingesting(active_dump)
    pending = dumps.store_dump(make_dump(n_services=10, n_users=20, seed=18))
    assert dumps.store_dump(active_dump).id == active  # received again, after `pending`
    assert ingestion.ingest_snapshot(pending.id)["status"] == "superseded"
    assert ingestion.ingest_snapshot(active)["status"] == "unchanged"
    assert active_snapshot_id() == active


def test_a_string_no_database_can_store_is_refused(ctx):
    dump = make_dump(n_services=3, n_users=3, seed=19)
    dump["services"][0]["name"] = "\ud800"  # what json.loads makes of "\\ud800"
    with pytest.raises(InvalidInput) as refused:
        dumps.store_dump(dump)
    assert "$" in refused.value.errors
    assert not stored_anything(ctx)


def test_canonical_bytes_are_python_json_sorted_and_compact():
    """Checksums of dumps stored before the orjson writer must not change."""
    dump = make_dump(n_services=20, n_users=30, seed=20)
    dump["services"][0].update(name="Zürich \u2028 \x01 \"quoted\" \\", pid=None, extra={"b": 1, "a": [True, None]})
    expected = json.dumps({key: dump[key] for key in DUMP_KEYS}, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode()
    assert dumps._canonical_json(dump) == expected


def test_an_integer_beyond_64_bits_in_an_unknown_field_is_kept():
    dump = make_dump(n_services=3, n_users=3, seed=21)
    dump["users"][0]["legacy_id"] = 2**70
    assert json.loads(dumps._canonical_json(dump))["users"][0]["legacy_id"] == 2**70
