"""Redis killed under traffic and started again empty, as a Redis without persistence
restarts: the API answers 2xx or 503 with a message (never 500), recommendations and
user actions keep being served and stored, the worker reconnects on its own, /health is
UP again within 30 s, and a job whose queued message Redis forgot runs after all
(app/lost_jobs.py).

The stack is the API under gunicorn, the worker, trainer and beat as `make run` starts
them, on a Redis of their own (broker, result backend and history cache, as in `make run`)."""
from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
import redis
import requests

from tests.conftest import LOGS
from tests.fixtures.dumps import make_dump
from tests.fixtures.stack import serving_stack, wait_until
from tests.test_gunicorn_server import click, panel_request

HEALTHY_WITHIN = 30  # seconds after the broker is back
LOST_JOB_DONE_WITHIN = 120


@pytest.fixture
def stack(app, db, settings, tmp_path):
    with serving_stack(app, settings, tmp_path, "outage", {"RECOVER_JOBS_SECONDS": 2}) as stack:
        yield stack


def health(url: str) -> requests.Response:
    return requests.get(f"{url}/health", timeout=10)


def every_endpoint(url: str, number: int, job_id: str) -> dict[str, requests.Response]:
    """One request to each operation the marketplace and operators use."""
    calls = {
        "POST /recommendations": ("POST", "/recommendations", panel_request(number)),
        "POST /user_actions": ("POST", "/user_actions", click(number)),
        "POST /events": ("POST", "/events", {"unique_id": str(uuid.UUID(int=number + 1)), "type": "view",
                                             "service_id": 1, "timestamp": "2021-03-18T19:33:21.620Z"}),
        "POST /update": ("POST", "/update", {"services": []}),  # 400 before the broker is needed
        "POST /training": ("POST", "/training", {"engines": ["ncf"]}),
        "POST /jobs/selfcheck": ("POST", "/jobs/selfcheck", None),
        "GET /jobs/<id>": ("GET", f"/jobs/{job_id}", None),
        "POST /jobs/<id>/cancel": ("POST", f"/jobs/{job_id}/cancel", None),
        "GET /health": ("GET", "/health", None),
        "GET /models": ("GET", "/models", None),
        "GET /datasets": ("GET", "/datasets", None),
        "GET /stats/hitrate": ("GET", "/stats/hitrate", None),
        "GET /metrics": ("GET", "/metrics", None),
        "DELETE /users/<id>": ("DELETE", "/users/99999", None),
    }
    return {name: requests.request(method, url + path, json=body, timeout=30)
            for name, (method, path, body) in calls.items()}


def test_a_broker_outage_loses_nothing_and_heals_itself(stack, db):
    url = stack.url
    assert wait_until(lambda: health(url).status_code == 200, 30), health(url).text
    stored_before = db["user_actions"].count_documents({})

    # Dumps answered 202 just before the outage. The worker is paused: one message may sit in
    # its blocked read's socket, the next one waits in Redis and is lost with it.
    os.killpg(stack.worker.pid, signal.SIGSTOP)
    queued = []
    broker = redis.Redis.from_url(stack.settings["CELERY_BROKER_URL"])

    def waiting_in_redis() -> list[str]:  # (beat's own tasks may wait there too)
        messages = [message.decode() for message in broker.lrange("default", 0, -1)]
        return [job for job in queued if any(job in message for message in messages)]

    while not waiting_in_redis():
        answer = requests.post(f"{url}/update", json=make_dump(n_services=30, n_users=30, seed=100 + len(queued)),
                               timeout=30)
        assert answer.status_code == 202
        queued.append(answer.json()["job_id"])
        time.sleep(0.2)
    lost_job = waiting_in_redis()[-1]
    stack.redis.kill()
    stack.redis.wait()

    acknowledged = 0
    answers = {}
    for number in range(3):
        answers = every_endpoint(url, number, lost_job)
        for name, answer in answers.items():
            assert answer.status_code < 500 or answer.status_code == 503, (name, answer.status_code, answer.text)
            if answer.status_code == 503:  # with a message; /health with its tree, the broker DOWN
                body = answer.json()
                assert body["broker"]["status"] == "DOWN" if name == "GET /health" else body["message"], (name, body)
            assert "Traceback" not in answer.text, name
        acknowledged += answers["POST /user_actions"].status_code < 300
    assert answers["POST /recommendations"].status_code == 200
    assert answers["POST /user_actions"].status_code < 300
    assert answers["POST /jobs/selfcheck"].status_code == 503
    assert answers["POST /training"].status_code == 503
    assert answers["GET /health"].status_code == 503
    assert answers["GET /jobs/<id>"].status_code == 200 and answers["GET /jobs/<id>"].json()["state"] == "PENDING"
    assert db["user_actions"].count_documents({}) == stored_before + acknowledged

    # Redis comes back empty: the paused job's message is gone.
    stack.redis = stack.start_redis()
    back = time.monotonic()
    os.killpg(stack.worker.pid, signal.SIGCONT)
    assert wait_until(lambda: health(url).status_code == 200, HEALTHY_WITHIN + 5), health(url).text
    healthy_after = time.monotonic() - back
    assert healthy_after <= HEALTHY_WITHIN
    assert [proc.poll() for proc in (stack.worker, stack.trainer, stack.beat)] == [None] * 3, "a process exited"

    def lost_job_state():
        state = requests.get(f"{url}/jobs/{lost_job}", timeout=10).json()["state"]
        return state if state in ("SUCCESS", "FAILURE") else None

    assert wait_until(lost_job_state, LOST_JOB_DONE_WITHIN) == "SUCCESS"
    assert db["jobs"].find_one({"_id": lost_job})["requeued"] == 1
    assert {record["state"] for record in db["jobs"].find({"_id": {"$in": queued}})} == {"SUCCESS"}
    # The dump received last is the active dataset: it was not lost.
    lost_dump = requests.get(f"{url}/jobs/{lost_job}", timeout=10).json()["result"]
    assert lost_dump["status"] == "active"
    assert requests.get(f"{url}/datasets", timeout=10).json()["active_snapshot_id"] == lost_dump["snapshot_id"]
    print(f"healthy {healthy_after:.1f} s after Redis came back; the lost dump was active "
          f"{time.monotonic() - back:.1f} s after")

    # Everything works again, new jobs included.
    fresh = requests.post(f"{url}/jobs/selfcheck", timeout=10)
    assert fresh.status_code == 202
    assert wait_until(lambda: requests.get(f"{url}/jobs/{fresh.json()['job_id']}", timeout=10)
                      .json()["state"] == "SUCCESS", 60)
    # The API logged the outage in lines of its own; Celery's processes log theirs with tracebacks.
    assert "Traceback" not in (LOGS / f"gunicorn-{stack.name}.log").read_text()
