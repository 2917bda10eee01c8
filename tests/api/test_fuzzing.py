"""schemathesis against the API under gunicorn, as `make run` serves it, with write tokens
configured: every phase (examples, coverage, fuzzing, stateful), every check. A run passes
with no response 5xx, no response outside its documented status codes and models, and no
write accepted without a valid token.

Each run fuzzes twice: with FIXED_SEED, and with a random seed printed for replay
(`st run <url>/swagger.json --seed N ...`, the command the test prints; or the whole test
again with `FUZZ_SEED=N`). The API's data
is a served marketplace (a dump ingested, interactions stored, Popularity and Session
fitted). Reads of recommendations need a token too (RECOMMENDATION_TOKENS), so that the
tokens the document declares are checked on every operation. A worker of the stack's own,
on a broker database of its own, runs the jobs the fuzzer starts, and is stopped with it.
What schemathesis may not count as a failure is in tests/api/schemathesis.toml and
tests/api/fuzzing_hooks.py, with why.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

from app import create_app
from devstack import services
from tests.conftest import LOGS, settings_env, start_gunicorn
from tests.recommendations.serving_fixtures import serve_marketplace

TOKEN = "fuzzing-write-token"
FIXED_SEED = 20261206
EXAMPLES_PER_OPERATION = 70  # 19 operations: at least 1,000 cases a run with the coverage phase's own
MINIMUM_CASES = 1000
ST = Path(sys.executable).parent / "st"
CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = Path(__file__).with_name("fuzzing_hooks.py")


def start_worker(settings: dict, log_name: str):
    proc = services.spawn(
        [str(Path(sys.executable).parent / "celery"), "-A", "worker", "worker", "-Q", "default,training",
         "-n", f"fuzzing-{uuid.uuid4().hex[:6]}@%h", "--concurrency", "1", "--loglevel", "WARNING",
         "--without-gossip", "--without-mingle"], LOGS / log_name, env=settings_env(settings))
    celery = create_app(settings).extensions["celery"]
    services.wait_until(lambda: bool(celery.control.inspect(timeout=1.0).ping()), 60, "celery worker", proc)
    return proc


@pytest.fixture
def fuzzed_server(app, db, settings, redis_url):
    serve_marketplace(app)
    own_broker = redis_url.rsplit("/", 1)[0] + "/9"
    server_settings = {**settings, "API_TOKENS": [TOKEN], "RECOMMENDATION_TOKENS": ["fuzzing-read-token"],
                       "CELERY_BROKER_URL": own_broker, "CELERY_RESULT_BACKEND": own_broker,
                       "LOG_LEVEL": "WARNING"}
    name = f"fuzzing-{uuid.uuid4().hex[:8]}"
    worker = start_worker(server_settings, f"worker-{name}.log")
    proc, url = start_gunicorn(server_settings, f"gunicorn-{name}.log")
    yield url, [LOGS / f"gunicorn-{name}.log", LOGS / f"worker-{name}.log"]
    services.stop(proc)
    services.stop(worker)
    app.extensions["celery"].set_default()  # create_app above made the fuzzing one the default


def fuzz(url: str, seed: int, workdir: Path) -> tuple[subprocess.CompletedProcess, list[str]]:
    report = workdir / "events.ndjson"
    # The schema is read here, with time to spare: schemathesis gives its own read of it 10 s,
    # which a busy 2-core machine's first request after start has exceeded.
    schema = workdir / "swagger.json"
    with urllib.request.urlopen(f"{url}/swagger.json", timeout=120) as response:
        schema.write_bytes(response.read())
    command = [str(ST), "--config-file", str(CONFIG), "run", str(schema), "--url", url, "--checks", "all",
               "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", str(EXAMPLES_PER_OPERATION),
               "--seed", str(seed), "--header", f"Authorization: Bearer {TOKEN}", "--workers", "1",
               "--generation-database", "none", "--no-color", "--request-timeout", "30",
               "--report", "ndjson", "--report-ndjson-path", str(report)]
    command = ["env", f"SCHEMATHESIS_HOOKS={HOOKS}", *command]
    print("replay with:", " ".join(command))
    return subprocess.run(command, capture_output=True, text=True, timeout=1200, cwd=workdir), command


def cases_sent(report: Path) -> int:
    """Test cases schemathesis generated and sent, from its event stream."""
    count = 0
    for line in report.read_text().splitlines():
        event = json.loads(line)
        for name, body in event.items():
            if name == "ScenarioFinished":
                count += len((body.get("recorder") or {}).get("cases", {}))
    return count


# FUZZ_SEED=N replays the second run of a failed CI with its seed.
SECOND_SEED = int(os.environ.get("FUZZ_SEED") or random.SystemRandom().randrange(2**31))


@pytest.mark.parametrize("seed", [FIXED_SEED, SECOND_SEED])
def test_fuzzing_finds_no_server_error_and_no_undocumented_answer(fuzzed_server, tmp_path, seed):
    url, logs = fuzzed_server
    outcome, command = fuzz(url, seed, tmp_path)
    summary = outcome.stdout[-6000:]
    assert outcome.returncode == 0, f"seed {seed} ({' '.join(command)}):\n{summary}\n{outcome.stderr[-2000:]}"
    assert cases_sent(tmp_path / "events.ndjson") >= MINIMUM_CASES, summary
    for log in logs:
        assert "Traceback" not in log.read_text(), log
