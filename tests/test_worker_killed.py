"""kill -9 of the worker during an ingestion, and of the trainer during training: each job
is run again and ends within a bounded time (its heartbeat stops, app/lost_jobs.py), not
after the broker's visibility timeout; the active snapshot stays the one it was until
the replacement is complete, and what is served meanwhile is the old one, whole.

kill -9 of only the pool process running an ingestion (what the OOM killer does): the
worker's main process runs it again, within TASK_MAX_RETRIES, then fails the job and
its snapshot with the reason, and the dump sent again is ingested."""
from __future__ import annotations

import os
import signal
import time

import psutil
import pytest
import requests

from tests.fixtures.dumps import make_dump
from tests.fixtures.stack import serving_stack, wait_until
from tests.test_gunicorn_server import panel_request

# Heartbeat every second: a killed job is silent after 4 s, confirmed at the next look 2 s on.
FAST_RECOVERY = {"RECOVER_JOBS_SECONDS": 2, "JOB_HEARTBEAT_SECONDS": 1}
ENDED_WITHIN = 120  # seconds from the kill; with the defaults: 60 s silent + up to 2 looks of 30 s + the rerun


@pytest.fixture
def stack(app, db, settings, tmp_path):
    with serving_stack(app, settings, tmp_path, "killed", FAST_RECOVERY) as stack:
        yield stack


@pytest.fixture
def stack_retrying_once(app, db, settings, tmp_path):
    with serving_stack(app, settings, tmp_path, "pool-killed", {"TASK_MAX_RETRIES": 1}) as stack:
        yield stack


def post_dump(url: str, dump: dict) -> str:
    """The ingestion job of `dump`, posted."""
    posted = requests.post(f"{url}/update", json=dump, timeout=60)
    assert posted.status_code == 202, posted.text
    return posted.json()["job_id"]


def job(url: str, job_id: str) -> dict:
    return requests.get(f"{url}/jobs/{job_id}", timeout=10).json()


def active_snapshot(url: str) -> str:
    return requests.get(f"{url}/datasets", timeout=10).json()["active_snapshot_id"]


def kill_when_running(url: str, job_id: str, proc) -> float:
    """kill -9 the process group of `proc` once the job reports progress; the time of the kill."""
    assert wait_until(lambda: job(url, job_id)["state"] in ("STARTED", "PROGRESS"), 180, 0.05), job(url, job_id)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return time.monotonic()


def ncf_versions(url: str) -> list[str]:
    return [v["id"] for v in requests.get(f"{url}/models", timeout=10).json() if v["engine"] == "NCF"]


def ended(url: str, job_id: str) -> dict | None:
    status = job(url, job_id)
    return status if status["state"] in ("SUCCESS", "FAILURE", "REVOKED") else None


def test_killed_ingestion_and_training_are_run_again_and_nothing_half_written_is_served(stack, db):
    url = stack.url
    before = active_snapshot(url)
    dump = make_dump(n_services=400, n_users=6000, seed=31)
    ingestion = post_dump(url, dump)
    killed_at = kill_when_running(url, ingestion, stack.worker)

    # While no worker runs: the old snapshot is served, whole.
    assert active_snapshot(url) == before
    served = requests.post(f"{url}/recommendations", json=panel_request(1), timeout=10)
    assert served.status_code == 200 and len(served.json()["recommendations"]) == 3

    stack.worker = stack.spawn("worker")  # as make run's supervisor does
    result = wait_until(lambda: ended(url, ingestion), ENDED_WITHIN)
    assert result and result["state"] == "SUCCESS", result
    ingestion_seconds = time.monotonic() - killed_at
    assert result["result"]["status"] == "active"
    snapshot = result["result"]["snapshot_id"]
    assert active_snapshot(url) == snapshot != before
    detail = requests.get(f"{url}/datasets/{snapshot}", timeout=10).json()
    assert detail["counts"]["users"] == len(dump["users"]) and detail["counts"]["services"] == len(dump["services"])
    assert db["users"].count_documents({"snapshot_id": snapshot}) == len(dump["users"])  # written once, not twice
    assert db["jobs"].find_one({"_id": ingestion})["requeued"] == 1

    # The trainer, killed during the NCF training the new snapshot queued.
    training_job = next(job_id for job_id in result["result"]["training_job_ids"]
                        if job(url, job_id)["name"] == "marketrec.training.ncf")
    killed_at = kill_when_running(url, training_job, stack.trainer)
    assert ncf_versions(url) == []  # nothing half-registered
    stack.trainer = stack.spawn("trainer")
    result = wait_until(lambda: ended(url, training_job), ENDED_WITHIN + 300)
    assert result and result["state"] == "SUCCESS", result
    training_seconds = time.monotonic() - killed_at
    assert db["jobs"].find_one({"_id": training_job})["requeued"] == 1
    assert len(ncf_versions(url)) == 1  # registered once, by the run that finished
    print(f"killed ingestion active {ingestion_seconds:.1f} s after the kill; killed training done "
          f"{training_seconds:.1f} s after")


def kill_pool_processes_when_running(url: str, job_id: str, worker) -> None:
    """kill -9 the worker's pool processes (not the worker) once the job reports progress."""
    assert wait_until(lambda: job(url, job_id)["state"] in ("STARTED", "PROGRESS"), 180, 0.05), job(url, job_id)
    children = psutil.Process(worker.pid).children()
    assert children
    for child in children:
        child.kill()


def test_an_ingestion_whose_pool_process_is_killed_is_retried_then_failed_with_its_snapshot(stack_retrying_once, db):
    stack = stack_retrying_once
    url = stack.url
    before = active_snapshot(url)
    dump = make_dump(n_services=400, n_users=6000, seed=32)
    ingestion = post_dump(url, dump)
    snapshot = db["jobs"].find_one({"_id": ingestion})["args"][0]

    kill_pool_processes_when_running(url, ingestion, stack.worker)
    # (The result backend says RETRY a moment before the worker writes the step into the record.)
    retrying = wait_until(lambda: (status := job(url, ingestion))["state"] == "RETRY" and status["step"] and status,
                          30, 0.05)
    assert retrying and retrying["step"].startswith("retry 1 of 1: the process running it was lost"), retrying
    kill_pool_processes_when_running(url, ingestion, stack.worker)  # its second run: no retry left

    result = wait_until(lambda: ended(url, ingestion), 60)
    assert result and result["state"] == "FAILURE" and "WorkerLostError" in result["error"], result
    assert not db["jobs"].find_one({"_id": ingestion}).get("requeued")  # the worker did it, not lost-job recovery
    detail = requests.get(f"{url}/datasets/{snapshot}", timeout=10).json()
    assert detail["status"] == "failed" and "WorkerLostError" in detail["error"] and "send the dump again" in \
        detail["error"], detail
    assert active_snapshot(url) == before
    assert db["dataset_writer_lease"].count_documents({}) == 0  # freed at once, not after LEASE_SECONDS

    again = post_dump(url, dump)
    result = wait_until(lambda: ended(url, again), 120)
    assert result and result["state"] == "SUCCESS" and result["result"]["status"] == "active", result
    assert active_snapshot(url) == snapshot != before
    assert db["users"].count_documents({"snapshot_id": snapshot}) == len(dump["users"])


def test_a_retried_run_that_succeeds_no_longer_shows_the_retry(stack_retrying_once, db):
    url = stack_retrying_once.url
    ingestion = post_dump(url, make_dump(n_services=400, n_users=6000, seed=33))
    kill_pool_processes_when_running(url, ingestion, stack_retrying_once.worker)
    assert wait_until(lambda: job(url, ingestion)["state"] == "RETRY", 30, 0.05), job(url, ingestion)
    result = wait_until(lambda: ended(url, ingestion), 120)
    assert result and result["state"] == "SUCCESS" and result["result"]["status"] == "active", result
    assert result["step"] is None, result
