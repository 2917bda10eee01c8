"""How long a full marketplace dump takes: POST /update to 202, validation, and
ingestion until the new snapshot is active.

    .venv/bin/python benchmarks/ingest_dump.py [--services 10000] [--users 100000]
        [--projects 200000] [--rounds 1] [--skip-jsonschema] [--server gevent]

Starts SecantusDB (on disk in a temporary directory: in memory its cache cannot
hold two snapshots of this size), Redis, the API under gunicorn (1 worker) and a
Celery worker on the default queue (concurrency 2, as `make run` starts it),
unless MONGODB_URI / REDIS_URL name running ones. Each round posts a different
dump of the given size and waits for its job; the first dump is then posted
again (it must finish at once, "unchanged"). From the third round on, the
previous round's prune job deletes the oldest snapshot's documents; its time is
printed too. Validation is also timed in this process: the compiled check, and
jsonschema over the same schema for comparison. While each POST is in flight, a
probe asks the same API worker for recommendations (an anonymous visitor's panel)
every 50 ms; the longest and the median answer times are printed: how long the
worker's other requests wait behind a dump (`--server` picks gunicorn's worker
class, as in benchmarks/serving.py).

Everything runs on this machine's 2 shared cores (client, API, worker and the
database), with OMP_NUM_THREADS=1; timings are noisy, the load average is
printed beside them. Each round also prints where the worker's time went (the
job result's "seconds"): loading the raw dump, checking references, writing
services, users, projects and the small collections, and bookkeeping.
SecantusDB writes at a few thousand indexed documents per second and so bounds
the ingestion figure (users: one document each, two indexes); real MongoDB is
faster.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app import create_app  # noqa: E402
from app.storage.jobs import Job  # noqa: E402
from app.wire.dump import DUMP, check_dump  # noqa: E402
from benchmarks import harness  # noqa: E402
from devstack import services  # noqa: E402
from tests.fixtures.dumps import make_dump  # noqa: E402

BIN = harness.BIN
LABEL_WIDTH = 46
BIG_KEYS = ("services", "users", "projects")


def row(name: str, value: str) -> None:
    """One line of the table, printed at once: a long run shows its figures as it goes."""
    print(f"{name:<{LABEL_WIDTH}}  {value}", flush=True)


class PeakRss:
    """Samples the resident memory of a process tree; keeps the largest single process."""

    def __init__(self, pid: int):
        self.root, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            try:
                tree = [self.root, *self.root.children(recursive=True)]
                self.peak = max([self.peak, *(p.memory_info().rss for p in tree if p.is_running())])
            except psutil.Error:
                pass

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def start_service(settings: dict, workdir: Path, server: str | None) -> tuple[str, object, object]:
    port = services.free_port()
    api = harness.start_api(settings, port, workers=1, server=server, log_path=workdir / "gunicorn.log")
    worker = services.spawn([str(BIN / "celery"), "-A", "worker", "worker", "-Q", "default", "--concurrency", "2",
                             "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
                            workdir / "worker.log", env=dict(os.environ, **settings, OMP_NUM_THREADS="1"))
    return f"http://127.0.0.1:{port}", api, worker


def wait_for_job(url: str, job_id: str, timeout: float = 1800) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = requests.get(f"{url}/jobs/{job_id}", timeout=30).json()
        if job["state"] in ("SUCCESS", "FAILURE", "REVOKED"):
            return job
        time.sleep(0.2)
    raise RuntimeError(f"job {job_id} not finished after {timeout} s")


class PanelProbe:
    """POST /recommendations every `interval` seconds from a thread; keeps the answer times."""

    REQUEST = {"unique_id": "5642c351-80fe-44cf-b606-304f2f338122", "timestamp": "2021-03-18T18:49:55.006Z",
               "visit_id": None, "page_id": "/services", "panel_id": "v1", "search_data": {}}

    def __init__(self, url: str, interval: float = 0.05):
        self.seconds: list[float] = []
        self._url, self._interval = url, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                started = time.perf_counter()
                response = session.post(f"{self._url}/recommendations", json=self.REQUEST, timeout=120)
                response.raise_for_status()
                self.seconds.append(time.perf_counter() - started)
                self._stop.wait(self._interval)

    def stop(self) -> str:
        self._stop.set()
        self._thread.join()
        return (f"longest {max(self.seconds, default=0):.2f} s, median {harness.median(self.seconds) * 1000:.1f} ms "
                f"({len(self.seconds)} requests)")


def post_and_wait(url: str, body: bytes) -> dict:
    probe = PanelProbe(url)
    started = time.perf_counter()
    response = requests.post(f"{url}/update", data=body, headers={"Content-Type": "application/json"}, timeout=600)
    accepted = time.perf_counter() - started
    probe_times = probe.stop()
    if response.status_code != 202:
        raise RuntimeError(f"POST /update answered {response.status_code}: {response.text[:500]}")
    job = wait_for_job(url, response.json()["job_id"])
    if job["state"] != "SUCCESS":
        raise RuntimeError(f"ingestion {job['state']}: {job.get('error')}")
    return {"accepted": accepted, "done": time.perf_counter() - started, "job": job, "probe": probe_times}


def job_seconds(job_id: str) -> float:
    record = Job.objects.get(id=job_id)
    return (record.finished_at - record.started_at).total_seconds()


def breakdown(seconds: dict) -> str:
    """The worker's seconds per step, the small collections summed."""
    steps = {"loading": seconds.get("loading", 0.0), "references": seconds.get("checking references", 0.0),
             **{key: seconds.get(key, 0.0) for key in BIG_KEYS}}
    if seconds.get("deleting"):
        steps["deleting"] = seconds["deleting"]
    named = {"loading", "checking references", "deleting", "bookkeeping", *BIG_KEYS}
    steps["other collections"] = sum(value for step, value in seconds.items() if step not in named)
    steps["bookkeeping"] = seconds.get("bookkeeping", 0.0)
    return ", ".join(f"{step} {value:.1f}" for step, value in steps.items()) + " s"


def time_validation(dump: dict, with_jsonschema: bool) -> None:
    started = time.perf_counter()
    check_dump(dump)
    row("validation, compiled check + duplicate ids", f"{time.perf_counter() - started:.2f} s")
    if with_jsonschema:
        from jsonschema import Draft4Validator, FormatChecker

        validator = Draft4Validator(DUMP.json_schema(), format_checker=FormatChecker())
        started = time.perf_counter()
        assert validator.is_valid(dump)
        row("validation, jsonschema (restx model's schema)", f"{time.perf_counter() - started:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=1, help="different dumps posted one after another")
    parser.add_argument("--skip-jsonschema", action="store_true", help="do not time plain jsonschema (~20 s)")
    parser.add_argument("--server", help="gunicorn worker class: gevent, sync, gthread:N (default: configured)")
    args = parser.parse_args()
    os.chdir(ROOT)  # gunicorn.conf.py, worker.py
    row("load average before (1, 5, 15 min)", " ".join(f"{v:.2f}" for v in os.getloadavg()))
    row("database", "SecantusDB, on disk" if "MONGODB_URI" not in os.environ else "MONGODB_URI")
    with harness.stack("marketrec-ingest-bench-") as (settings, procs, workdir):
        def make(seed: int) -> dict:
            return make_dump(args.services, args.users, args.projects, seed=seed, extras=True)

        started = time.perf_counter()
        first = make(1)
        body = json.dumps(first).encode()
        documents = sum(len(value) for value in first.values() if isinstance(value, list))
        row("dump", f"{args.services} services, {args.users} users, {args.projects} projects, "
                    f"{documents} items in all, {len(body) / 1e6:.1f} MB "
                    f"(made in {time.perf_counter() - started:.1f} s)")
        time_validation(first, not args.skip_jsonschema)
        with create_app(settings).app_context():
            url, api, worker = start_service(settings, workdir, args.server)
            procs += [api, worker]
            worker_rss, api_rss = PeakRss(worker.pid), PeakRss(api.pid)
            requests.post(f"{url}/recommendations", json=PanelProbe.REQUEST, timeout=120)  # the first builds state
            idle = PanelProbe(url)
            time.sleep(3.0)
            row("recommendations, no dump in flight", idle.stop())
            for round_ in range(1, args.rounds + 1):
                if round_ > 1:
                    body = json.dumps(make(round_)).encode()
                run = post_and_wait(url, body)
                ingest = job_seconds(run["job"]["id"])
                row(f"round {round_}: POST /update to 202", f"{run['accepted']:.2f} s")
                row(f"round {round_}: recommendations meanwhile", run["probe"])
                row(f"round {round_}: POST to job SUCCESS (active)",
                    f"{run['done']:.1f} s; in the worker {ingest:.1f} s = {documents / ingest:.0f} documents/s")
                if run["job"]["result"].get("seconds"):
                    row(f"round {round_}: in the worker, per step", breakdown(run["job"]["result"]["seconds"]))
                prune_id = run["job"]["result"].get("prune_job_id")
                if round_ >= 3 and prune_id:
                    prune = wait_for_job(url, prune_id)
                    row(f"round {round_}: prune of the oldest snapshot",
                        f"{job_seconds(prune_id):.1f} s ({prune['result']['status']}, runs after the switch)")
            again = post_and_wait(url, json.dumps(first).encode())
            row("the first dump posted again", f"202 in {again['accepted']:.2f} s, job done in "
                                               f"{again['done']:.1f} s ({again['job']['result']['status']})")
            row("peak RSS, largest worker process", f"{worker_rss.stop() / 2**20:.0f} MiB")
            row("peak RSS, largest API process", f"{api_rss.stop() / 2**20:.0f} MiB")
        row("load average after (1, 5, 15 min)", " ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
