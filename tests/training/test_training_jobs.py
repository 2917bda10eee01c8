"""Training through the real worker: a dump leads to an active NCF version that
serves, and a worker killed mid-training leaves the active model as it was."""
import os
import signal
import subprocess
import time

from app import model_registry
from app.storage.models import ModelVersion
from tests.fixtures.dumps import make_dump
from tests.recommendations.serving_fixtures import with_focused_users

REQUEST = {"unique_id": "5642c351-80fe-44cf-b606-304f2f338122", "visit_id": None, "page_id": "/services",
           "timestamp": "2021-03-18T18:49:55.006Z", "search_data": {}, "engine_version": "NCF"}


def wait_for_job(client, job_id, timeout=240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/jobs/{job_id}").get_json()
        if body["state"] in ("SUCCESS", "FAILURE", "REVOKED"):
            return body
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} did not finish: {body}")


def test_a_dump_ends_in_an_active_ncf_version_that_serves(app, client, db, worker):
    dump = with_focused_users(make_dump(n_services=150, n_users=150, seed=3))
    ingest = wait_for_job(client, client.post("/update", json=dump).get_json()["job_id"])
    assert ingest["state"] == "SUCCESS" and ingest["result"]["status"] == "active"
    for job_id in ingest["result"]["training_job_ids"]:
        assert wait_for_job(client, job_id)["state"] == "SUCCESS"
    with app.app_context():
        version = model_registry.active_version("NCF")
    assert version.dataset_id == ingest["result"]["snapshot_id"] and version.metrics["hr@10_sampled"] >= 0

    user = next(u for u in dump["users"] if u["accessed_services"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the API process notices the new version within a second or two
        body = client.post("/recommendations", json={**REQUEST, "user_id": user["id"]}).get_json()
        if body["engine_version"] == "NCF":
            break
        time.sleep(0.5)
    assert body["engine_version"] == "NCF" and body["model_version"] == str(version.id)


def pool_children(worker_pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(worker_pid)], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def test_a_pool_process_killed_mid_training_is_run_again_and_leaves_nothing_half_written(app, client, db, worker):
    dump = with_focused_users(make_dump(n_services=150, n_users=150, seed=4))
    ingest = wait_for_job(client, client.post("/update", json=dump).get_json()["job_id"])
    for job_id in ingest["result"]["training_job_ids"]:
        wait_for_job(client, job_id)
    with app.app_context():
        before = model_registry.active_version("NCF")
        ModelVersion.objects(id=before.id).update(set__config__digest="an older config")  # allow a new run
    job_id = client.post("/training", json={"engines": ["ncf"]}).get_json()["job_id"]
    deadline = time.monotonic() + 60
    while client.get(f"/jobs/{job_id}").get_json().get("step") != "train" and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pool_children(worker.pid):  # the process running the task dies at once
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while client.get(f"/jobs/{job_id}").get_json()["state"] != "RETRY" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get(f"/jobs/{job_id}").get_json()["state"] == "RETRY"  # run again in 10 s by the worker
    with app.app_context():
        assert model_registry.active_version("NCF").id == before.id
        assert ModelVersion.objects(engine="NCF").count() == 1  # nothing half-written was registered
    final = wait_for_job(client, job_id, timeout=120)
    assert final["state"] == "SUCCESS", final
    with app.app_context():
        assert ModelVersion.objects(engine="NCF").count() == 2  # registered once, by the run that finished
