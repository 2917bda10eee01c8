"""kill -9 of the database under a stream of user actions and events, then a restart on
the same data directory: every write answered 2xx is stored, once; while the database
is down the API answers 503 with a message (no traceback), and it recovers without a
restart of its own.

The database is a SecantusDB of the test's own, on disk; the API runs under gunicorn as
`make run` starts it."""
from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import pymongo
import pytest
import requests

from devstack import services
from tests.conftest import LOGS, start_gunicorn
from tests.fixtures.stack import wait_until
from tests.test_gunicorn_server import click

RECOVERED_WITHIN = 30  # seconds after the database is back


class Database:
    def __init__(self, workdir: Path, name: str):
        self.port, self.path, self.name = services.free_port(), str(workdir / "mongo"), name
        self.proc = self.start()
        self.uri = f"mongodb://127.0.0.1:{self.port}/marketrec_outage"

    def start(self):
        return services.start_mongo(self.port, self.path, LOGS / f"mongo-{self.name}.log")

    def kill(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def outage(settings, redis_url, tmp_path):
    name = f"dbkill-{uuid.uuid4().hex[:8]}"
    database = Database(tmp_path, name)
    cache = redis_url.rsplit("/", 1)[0] + "/7"  # broker and history cache of its own
    # A 2 s server selection timeout (5 s by default): the 6 s outage then surely answers some
    # request 503 before the database is back; with 5 s, a retried write's second wait could
    # carry the only 503 past the restart.
    server_settings = {**settings, "MONGODB_URI": database.uri, "REDIS_URL": cache, "CELERY_BROKER_URL": cache,
                       "CELERY_RESULT_BACKEND": cache, "LOG_LEVEL": "INFO", "MONGODB_TIMEOUT_MS": "2000"}
    api, url = start_gunicorn(server_settings, f"gunicorn-{name}.log")
    yield database, url, LOGS / f"gunicorn-{name}.log"
    services.stop(api)
    services.stop(database.proc)


class Stream:
    """User actions and events sent one after another; what each got back."""

    def __init__(self, url: str):
        self.url = url
        self.answers: list[tuple[float, str, str, int, str]] = []  # (time, kind, id, status, body)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        number = 0
        while not self.stop.is_set():
            number += 1
            action = click(number)
            action["id"] = str(uuid.uuid4())
            event = {"id": str(uuid.uuid4()), "unique_id": action["unique_id"], "type": "view", "service_id": 1,
                     "timestamp": "2021-03-18T19:33:21.620Z"}
            for kind, id_, body in (("user_actions", action["id"], action),
                                    ("events", event["id"], {"events": [event]})):
                try:
                    answer = requests.post(f"{self.url}/{kind}", json=body, timeout=30)
                    self.answers.append((time.monotonic(), kind, id_, answer.status_code, answer.text))
                except requests.RequestException as exc:
                    self.answers.append((time.monotonic(), kind, id_, 0, str(exc)))
            time.sleep(0.02)

    def acknowledged(self, kind: str) -> list[str]:
        return [id_ for _, k, id_, status, _ in self.answers if k == kind and 200 <= status < 300]


def test_a_killed_database_loses_no_acknowledged_write(outage):
    database, url, log = outage
    stream = Stream(url)
    stream.thread.start()
    time.sleep(3)
    database.kill()
    killed = time.monotonic()
    time.sleep(6)
    database.proc = database.start()
    back = time.monotonic()
    assert wait_until(lambda: any(t > back and 200 <= s < 300 for t, _, _, s, _ in stream.answers), RECOVERED_WITHIN)
    recovered_after = min(t for t, _, _, s, _ in stream.answers if t > back and 200 <= s < 300) - back
    time.sleep(3)
    stream.stop.set()
    stream.thread.join(60)

    statuses = {status for _, _, _, status, _ in stream.answers}
    assert statuses <= {204, 503}, statuses
    # (A request that waited for the database may finish as 204 once it is back.)
    assert any(status == 503 for t, _, _, status, _ in stream.answers if killed < t < back)
    for _, _, _, status, body in stream.answers:
        if status == 503:
            assert "Traceback" not in body and json.loads(body)["message"], body

    stored = pymongo.MongoClient(database.uri)["marketrec_outage"]
    for kind in ("user_actions", "events"):
        acknowledged = stream.acknowledged(kind)
        assert len(acknowledged) > 50
        found = [doc["_id"] for doc in stored[kind].find({"_id": {"$in": acknowledged}}, {"_id": 1})]
        assert sorted(found) == sorted(acknowledged), f"{kind}: {len(acknowledged) - len(found)} acknowledged, lost"
    assert "Traceback" not in log.read_text()
    print(f"{len(stream.answers)} writes, {sum(s == 503 for _, _, _, s, _ in stream.answers)} answered 503; "
          f"2xx again {recovered_after:.1f} s after the database was back")
