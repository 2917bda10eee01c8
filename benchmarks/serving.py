"""Latency and throughput of POST /recommendations at marketplace scale, under gunicorn.

    .venv/bin/python benchmarks/serving.py [--services 10000] [--users 100000] [--projects 10000]
        [--user-actions 1000000] [--events 20000] [--visitors 5000] [--seconds 10] [--connections 1 4 16]
        [--servers gevent gthread:8] [--calls 400] [--call-seconds 60]
        [--keep-database DIR] [--profile N] [--no-http]

Starts SecantusDB (on disk in a temporary directory, with a 2 GB cache: see
DATABASE_FLAGS) and Redis on free ports, unless MONGODB_URI / REDIS_URL
name running ones. Stores and ingests a dump of
the given size (projects default to 10k rather than the usual two per user,
only to save ingestion time: serving never reads them). Stores at least
`--user-actions` user actions as browsing sessions (benchmarks/journeys.py: a
click in a recommendation panel, the service's pages, sometimes an order or a
page elsewhere, sometimes another panel click) of logged-in users and anonymous
visitors drawn with a long-tailed activity, through `store_user_actions`, the
function POST /user_actions calls, 2,000 actions a call; then `--events` events
of the same users and visitors. Fits Popularity and Session on them, and
registers an NCF version with random weights of the real layout (64-d id
embeddings and user content, 128-d service content, MLP 64-32-16, a user
encoder 90-256-64), one trained row per user, and its retrieval arrays fitted
as training fits them: training one at this size would take far longer than
the measurement (benchmarks/retrieval.py measures retrieval on trained ones).

`--keep-database DIR` keeps SecantusDB's files in DIR and, with them, what seeding
stored: a later run with the same sizes and DIR skips seeding (at 1M users it takes
most of an hour). `--profile N` runs N requests of the mix through the WSGI app
under cProfile and prints where their time went; `--no-http` stops before gunicorn.

Requests ask for the users and visitors who have user actions, so a request
whose asker's history is not in the Redis copy yet reads a real history from
MongoDB. Requests come in browsing sessions of `--views-per-session` requests on
average: the first view of a session reads the session's history (and a
logged-in user's, the first time the run names the user) from MongoDB, later
ones from the Redis copy, and a logged-in user's later panels find their NCF
scores kept (NCF_SCORE_CACHE_MB). Beside every mix figure, the requests that
missed the copy (those naming a user or visitor no earlier request named) are
given apart: p50, p99 and max.

Then, in this process: the whole request path without HTTP (`recommend(payload)`
in an app context, served-recommendation log on) over the mix, over a mix where
every request starts a session, and for NCF panels of logged-in users; the NCF
engine's scoring alone (`engine.recommend(context)`, with no score cache) for a
logged-in user and every eligible service; and the CPU per request of the whole
WSGI app called directly, one request at a time, with the database's CPU
meanwhile (the figure that moves least between runs: use it to compare versions
of the code). Each stops after `--calls` calls (five times as many for the CPU)
or `--call-seconds`. Then the API under gunicorn (2 workers, one torch/BLAS
thread each, once per `--servers` value: the worker class, gevent, sync or
gthread:N threads; a log line per request and every recommendation logged)
driven by an asyncio keep-alive client on this same machine with the mix
(benchmarks/harness.py RecommendationMix) at each connection count.
Everything shares the machine's 2 cores; the load average is printed beside
every figure, and beside the seeding's time and rate (on SecantusDB, bound by
it: 700 to 2,500 user actions a second on this shared 2-core machine, with a
load average of 10 to 2, so the default size seeds for 7 to 18 minutes; real
MongoDB is faster).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/torch load: see STYLE.md, torch threads

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from flask import current_app  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app import create_app, model_registry  # noqa: E402
from app.engines import NCF, NCFModel, NCFParams, RecommendationContext  # noqa: E402
from app.engines.ncf_retrieval import RetrievalSettings  # noqa: E402
from app.engines.score_cache import ScoreCache  # noqa: E402
from app.marketplace import recent_history  # noqa: E402
from app.marketplace.dumps import store_dump
from app.marketplace.events import store_events  # noqa: E402
from app.marketplace.ingestion import ingest_snapshot  # noqa: E402
from app.pipelines.interaction_models import fit_interaction_models  # noqa: E402
from app.recommendation_log import flush_served  # noqa: E402
from app.recommendations import service  # noqa: E402
from app.recommendations.serving_state import build_state, current_stamp, serving_state  # noqa: E402
from benchmarks import harness  # noqa: E402
from benchmarks.journeys import Sessions, store_sessions  # noqa: E402
from devstack import services  # noqa: E402
from tests.fixtures.dumps import DICTIONARY_SIZES, make_dump  # noqa: E402

EVENT_TYPES = ("view", "view", "view", "click", "cart", "order")
# With the 256 MB cache devstack gives SecantusDB, seeding the default size stalled twice
# after the dump and about 110,000 user actions: one insert_many of 2,000 actions held for
# over 10 minutes inside the server's oplog trimming (opening a cursor on the oplog), every
# other command waiting, whether the oplog was capped at its default 100,000 entries or kept
# whole. The data of a run (100k users, 1M actions, their indexes) is far larger than 256 MB.
DATABASE_FLAGS = ("--cache-size", "2G")
# The serving layout of the NCF that app/training/ncf_training.py exports, with 64-d embeddings.
NCF_DIMS = {"gmf": 64, "mlp": 64, "user_content": 64, "service_content": 128, "layers": (64, 32, 16),
            "encoder_hidden": 256}


def row(name: str, value: str) -> None:
    print(f"{name:<44}  {value}", flush=True)


def seed_marketplace(args, dump: dict, rng: random.Random, visitor_ids: list[str]) -> dict:
    """The dump stored, ingested and active; user actions and events stored by the same users and
    visitors; Popularity and Session fitted. Returns the ids the request mix draws from: the users
    and visitors who have user actions, and the recommendable services."""
    started = time.perf_counter()
    snapshot = store_dump(dump)
    outcome = ingest_snapshot(snapshot.id)
    row("dump ingested", f"{args.services} services, {args.users} users, {args.projects} projects "
                         f"({outcome['status']}, {time.perf_counter() - started:.0f} s)")
    published = [s["id"] for s in dump["services"] if s["status"] in ("published", "unverified")]
    now = datetime.now(timezone.utc)
    shown = [s for s in dump["services"] if s["status"] in ("published", "unverified")]
    sessions = Sessions(shown, [u["id"] for u in dump["users"]], visitor_ids, now, seed=3)
    active = seed_user_actions(sessions, args.user_actions)
    started = time.perf_counter()
    events = []
    for _ in range(args.events):
        who = sessions.who()
        moment = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
        events.append({**who, "service_id": rng.choice(published), "type": rng.choice(EVENT_TYPES),
                       "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")})
    for start in range(0, len(events), 2000):
        store_events(events[start:start + 2000])
    fitted = fit_interaction_models(snapshot.id)
    row("events stored, Popularity + Session fitted", f"{args.events} events, {fitted.get('interactions')} "
                                                      f"interactions ({time.perf_counter() - started:.0f} s)")
    return {**active, "service_ids": published, "snapshot_id": snapshot.id}


def register_ncf(dump: dict, snapshot_id: str) -> None:
    """An NCF version of random weights for the dump's users and services, with its retrieval arrays,
    registered and active. Done on every run, a kept database's too: the arrays follow the code."""
    started = time.perf_counter()
    model = random_ncf(np.array([u["id"] for u in dump["users"]]),
                       np.array([s["id"] for s in dump["services"]])).with_retrieval()
    version = model_registry.register("NCF", model.to_arrays(), model.params(), dataset_id=snapshot_id)
    model_registry.activate(version)
    row("NCF registered and active", f"{version.weights_bytes / 2**20:.0f} MiB of weights "
                                     f"({time.perf_counter() - started:.0f} s)")


def marketplace(args) -> dict:
    """The dump of the run's sizes (the same on every run)."""
    return make_dump(args.services, args.users, args.projects, seed=1)


def seed_user_actions(sessions: Sessions, actions: int) -> dict:
    """Store at least `actions` user actions as browsing sessions; the users and visitors who have them."""
    started, load = time.perf_counter(), harness.load_average()
    counts = store_sessions(sessions, actions, progress=lambda text: row("  ...", text))
    seconds = time.perf_counter() - started
    row("user actions stored (store_user_actions)",
        f"{counts.actions} in {counts.sessions} sessions, {counts.orders} orders; "
        f"{len(counts.user_ids)} users, {len(counts.visitor_ids)} anonymous visitors "
        f"({seconds:.0f} s, {counts.actions / seconds:.0f} a second; load before {load}, after "
        f"{harness.load_average()})")
    return {"user_ids": sorted(counts.user_ids), "visitor_ids": sorted(counts.visitor_ids)}


def random_ncf(user_ids: np.ndarray, service_ids: np.ndarray, seed: int = 0) -> NCFModel:
    """An NCFModel with the shapes and dtypes `export_ncf` gives, random weights."""
    rng = np.random.default_rng(seed)
    d = NCF_DIMS

    def normal(*shape, scale=0.1):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    u, s = user_ids.size, service_ids.size
    sizes = [2 * d["mlp"] + d["user_content"] + d["service_content"], *d["layers"]]
    fields = ("categories", "scientific_domains")
    vocabulary = [(i, value) for i, field in enumerate(fields) for value in range(1, DICTIONARY_SIZES[field] + 1)]
    return NCFModel(
        hyperparameters=NCFParams(fields, 0.5),
        user_ids=np.sort(user_ids).astype(np.int64), service_ids=np.sort(service_ids).astype(np.int64),
        user_gmf=normal(u + 1, d["gmf"]), user_mlp=normal(u + 1, d["mlp"]),
        user_content=np.tanh(normal(u, d["user_content"], scale=1.0)),
        service_gmf=normal(s, d["gmf"]), service_mlp=normal(s, d["mlp"]),
        service_content=np.tanh(normal(s, d["service_content"], scale=1.0)),
        mlp_weight=tuple(normal(a, b) for a, b in zip(sizes, sizes[1:])),
        mlp_bias=tuple(normal(b) for b in sizes[1:]),
        head_weight=normal(d["gmf"] + sizes[-1]), head_bias=normal(1),
        user_encoder_weight=(normal(len(vocabulary), d["encoder_hidden"]),
                             normal(d["encoder_hidden"], d["user_content"])),
        user_encoder_bias=(normal(d["encoder_hidden"]), normal(d["user_content"])),
        user_vocabulary_field=np.array([f for f, _ in vocabulary], np.int64),
        user_vocabulary_value=np.array([v for _, v in vocabulary], np.int64),
        user_vocabulary_column=np.arange(len(vocabulary), dtype=np.int64),
    )


class CopyMisses:
    """Tells which requests find their asker's history missing from the Redis copy: those naming a
    user or visitor that no earlier request of the run named. Such a request reads that history
    from MongoDB (the copy starts empty, is filled by the read that missed, and is kept for
    HISTORY_CACHE_TTL_SECONDS, far longer than a run). A logged-in user's new session always
    misses: its browser session id is new. Every request of the run must be noted, in order."""

    def __init__(self):
        self.asked: set[str] = set()

    def note(self, payload: dict) -> bool:
        """Note a request about to be sent; True if it will miss the copy."""
        identities = {f"visitor:{payload['unique_id'].lower()}"}
        if payload.get("user_id") is not None:
            identities.add(f"user:{int(payload['user_id'])}")
        new = identities - self.asked
        self.asked |= new
        return bool(new)


def time_calls(function, arguments: list, budget: float = float("inf")) -> list[float]:
    """Milliseconds of each call, in order, until `budget` seconds have passed."""
    times, stop_at = [], time.perf_counter() + budget
    for argument in arguments:
        started = time.perf_counter()
        function(argument)
        times.append((time.perf_counter() - started) * 1000)
        if started > stop_at:
            break
    return times


def time_requests(payloads: list[dict], misses: CopyMisses, budget: float) -> tuple[list[float], list[float]]:
    """Milliseconds of `recommend(payload)` for each payload until `budget` seconds have passed:
    (every request, the requests that missed the history copy)."""
    every, missed = [], []
    stop_at = time.perf_counter() + budget
    for payload in payloads:
        if time.perf_counter() > stop_at:
            break
        missing = misses.note(payload)
        started = time.perf_counter()
        service.recommend(payload)
        every.append((time.perf_counter() - started) * 1000)
        if missing:
            missed.append(every[-1])
    return every, missed


def spread(milliseconds: list[float]) -> str:
    """p50, p99 and max of a list of latencies, and how many."""
    ordered = sorted(milliseconds)
    return (f"p50 {harness.median(ordered):7.2f}  p99 {harness.percentile(ordered, 0.99):7.2f}  "
            f"max {max(ordered, default=float('nan')):7.2f} ms  ({len(ordered)} requests)")


def in_process(mix: harness.RecommendationMix, cold: harness.RecommendationMix, misses: CopyMisses,
               calls: int, budget: float, database_pid: int | None = None) -> dict[str, float]:
    """p50 (ms) of the whole request path without HTTP, over the mix, over a mix where every
    request starts a session, and for NCF panels of logged-in users, and of the NCF engine's
    scoring alone for such a panel; beside each mix, the requests that missed the history copy.
    Each figure stops after `calls` calls or `budget` seconds."""
    started = time.perf_counter()
    build_state(current_stamp())
    row("serving state built (each worker, at boot)", f"{time.perf_counter() - started:.1f} s")
    state = serving_state()
    mixed = [mix.payload()[1] for _ in range(calls)]
    first_views = [cold.payload()[1] for _ in range(calls)]
    panels = [mix.payload("user_panel")[1] for _ in range(calls)]
    time_requests([cold.payload()[1] for _ in range(20)], misses, budget)  # first calls pay for imports, caches
    contexts, stop_at = [], time.perf_counter() + budget
    for payload in panels:
        if time.perf_counter() > stop_at:
            break
        misses.note(payload)
        asker = service.identify(payload, state)
        candidates = state.catalogue.eligible(None, {}, asker.ordered)
        contexts.append(RecommendationContext(
            candidates=candidates, k=3, now=time.time(), user_id=asker.user_id, unique_id=asker.unique_id,
            history=asker.history, session=asker.session, taken=asker.taken, user_features=asker.features))
    model = state.engines["NCF"].model
    engine = NCF(model, ScoreCache(0))  # scoring itself: nothing kept between calls, every candidate scored
    settings = current_app.config
    retrieving = NCF(model, ScoreCache(0), RetrievalSettings(
        settings["NCF_RETRIEVAL_MIN_CANDIDATES"] or 10**12, settings["NCF_RETRIEVAL_POOL"],
        settings["NCF_RETRIEVAL_INDEX"]))
    figures, timed = {}, {}
    for name, payloads in (("recommend(), the mix", mixed), ("recommend(), first views of sessions only", first_views),
                           ("recommend(), NCF panels of users", panels)):
        timed[name] = time_requests(payloads, misses, budget)
        figures[name] = harness.median(timed[name][0])
    scoring = time_calls(engine.recommend, contexts, budget)
    figures["NCF engine.recommend() alone"] = harness.median(scoring)
    timed["NCF engine.recommend() alone"] = (scoring, None)
    if retrieving.retrievers:  # the catalogue is large enough for retrieval (NCF_RETRIEVAL_MIN_CANDIDATES)
        retrieved = time_calls(retrieving.recommend, contexts, budget)
        figures["NCF engine.recommend() with retrieval"] = harness.median(retrieved)
        timed["NCF engine.recommend() with retrieval"] = (retrieved, None)
    flush_served()
    load = harness.load_average()
    for name, (every, missed) in timed.items():
        row(f"in process: {name}", f"{spread(every)}  (load {load})")
        if missed is not None:
            row("  of which missed the history copy", spread(missed))
    row("  eligible services in an NCF panel", f"{contexts[0].candidates.size}")
    row("in process: WSGI app, CPU per request, the mix", wsgi_cpu(mix, misses, calls * 5, budget, database_pid))
    return figures


def wsgi_call(body: bytes) -> None:
    """POST /recommendations with this body through the current app's WSGI callable; it must answer 200."""
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/recommendations", "SERVER_NAME": "bench",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
               "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "CONTENT_TYPE": "application/json",
               "CONTENT_LENGTH": str(len(body))}
    statuses = []
    app = current_app._get_current_object()
    b"".join(app.wsgi_app(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    assert statuses[0].startswith("200"), statuses


def wsgi_cpu(mix: harness.RecommendationMix, misses: CopyMisses, calls: int, budget: float,
             database_pid: int | None) -> str:
    """CPU per request of the whole WSGI app (Flask, flask-restx, validation, serving, log) in this
    process, one request at a time and no HTTP server, and of the database meanwhile: the figure
    that changes least from run to run on a shared machine, to compare versions of the code."""
    payloads = [mix.payload()[1] for _ in range(calls)]
    bodies = [json.dumps(payload).encode() for payload in payloads]
    database_before = harness.cpu_seconds(database_pid) if database_pid else 0.0
    started, stop_at, done = time.process_time(), time.perf_counter() + budget, 0
    for payload, body in zip(payloads, bodies):
        if time.perf_counter() > stop_at:
            break
        misses.note(payload)
        wsgi_call(body)
        done += 1
    here = (time.process_time() - started) / done * 1000
    flush_served()
    text = f"this process {here:.2f} ms"
    if database_pid:
        text += f", database {(harness.cpu_seconds(database_pid) - database_before) / done * 1000:.2f} ms"
    return text + f" ({done} requests)"


def profile(mix: harness.RecommendationMix, misses: CopyMisses, calls: int) -> None:
    """Where the CPU of `calls` requests of the mix through the WSGI app goes: the functions with
    the most time of their own, and the most time under them."""
    bodies = []
    for _ in range(calls + 20):
        payload = mix.payload()[1]
        misses.note(payload)
        bodies.append(json.dumps(payload).encode())
    for body in bodies[:20]:  # the serving state built, first calls' imports and caches
        wsgi_call(body)
    bodies = bodies[20:]
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for body in bodies:
        wsgi_call(body)
    profiler.disable()
    flush_served()
    for order in ("tottime", "cumulative"):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats(order).print_stats(30)
        print(f"profile of {calls} requests of the mix, by {order} (CPU seconds):")
        print("\n".join(text.getvalue().splitlines()[6:]), flush=True)


def wait_until_serving(port: int, requests, api) -> None:
    """Workers warm the serving state before their first request; wait until both answer."""
    def answers() -> bool:
        results, _ = harness.run_load("127.0.0.1", port, requests, 2, 0.5)
        return len(results) > 0 and all(status == 200 for _, status, _, _ in results)

    services.wait_until(answers, 300, "the API's first recommendations", api)


def wire(mix: harness.RecommendationMix, misses: CopyMisses):
    """A function giving the next request of the mix, tagged (kind, missed the history copy)."""
    def next_request() -> harness.Request:
        kind, payload = mix.payload()
        return "/recommendations", json.dumps(payload).encode(), (kind, misses.note(payload))

    return next_request


def report_http(results: list, elapsed: float, reference: dict[str, float]) -> float:
    ok = [r for r in results if r[1] == 200]
    latencies = sorted(r[0] * 1000 for r in ok)
    p50 = harness.median(latencies)
    engines, kinds, missed = Counter(), {}, {"user": [], "visitor": []}
    for seconds, _, (kind, missing), body in ok:
        engines[json.loads(body)["engine_version"]] += 1
        kinds.setdefault(kind, []).append(seconds * 1000)
        if missing:
            missed["user" if kind.startswith("user") else "visitor"].append(seconds * 1000)
    print(f"    {len(ok) / elapsed:6.0f} req/s  p50 {p50:6.2f}  p95 {harness.percentile(latencies, 0.95):6.2f}  "
          f"p99 {harness.percentile(latencies, 0.99):6.2f}  max {max(latencies, default=float('nan')):7.2f} ms  "
          f"errors (non-200) {len(results) - len(ok)}", flush=True)
    print(f"    missed the history copy (first views): {spread(missed['user'] + missed['visitor'])}")
    print("      of users " + spread(missed["user"]) + "; of visitors " + spread(missed["visitor"]))
    print("    p50 by kind: " + ", ".join(f"{k} {harness.median(v):.2f}" for k, v in sorted(kinds.items())))
    print("    engines that served: " + ", ".join(f"{name} {count}" for name, count in engines.most_common()))
    print(f"    HTTP p50 / in-process recommend() p50 {p50 / reference['recommend(), the mix']:.1f}x; "
          f"HTTP p50 / NCF scoring p50 {p50 / reference['NCF engine.recommend() alone']:.1f}x")
    return p50


def worker_memory(pids) -> str:
    """Each API worker's RSS and USS (what one more worker costs), and the workers' PSS together."""
    figures = [harness.memory(pid) for pid in pids]

    def each(field: str) -> str:
        return "/".join(f"{figure[field] / 2**20:.0f}" for figure in figures)

    return (f"memory of the workers (MiB): RSS {each('rss')}, USS {each('uss')}, "
            f"PSS together {sum(figure['pss'] for figure in figures) / 2**20:.0f}")


def cpu_per_request(cores: dict[str, float], per_second: float) -> str:
    """Milliseconds of CPU per answered request: the API workers together, and each other process."""
    workers = sum(value for name, value in cores.items() if name.startswith("worker"))
    others = {name: value for name, value in cores.items() if not name.startswith("worker")}
    parts = [f"workers {workers / per_second * 1000:.2f}"]
    parts += [f"{name} {value / per_second * 1000:.2f}" for name, value in others.items()]
    return "CPU per request (ms): " + ", ".join(parts)


def serve_and_load(args, settings: dict, workdir: Path, mix, misses: CopyMisses, reference: dict[str, float],
                   pids: dict) -> None:
    requests = wire(mix, misses)
    for server in args.servers:
        port = services.free_port()
        api = harness.start_api(settings, port, server=server, log_path=workdir / f"gunicorn-{server}.log")
        try:
            wait_until_serving(port, requests, api)
            harness.run_load("127.0.0.1", port, requests, 4, 3.0)  # warm-up
            workers = {f"worker{n}": pid for n, pid in enumerate(harness.worker_pids(api.pid), start=1)}
            print(f"gunicorn: 2 {server} workers, OMP_NUM_THREADS=1", flush=True)
            print("  " + worker_memory(workers.values()), flush=True)
            for connections in args.connections:
                load = harness.load_average()
                cpu = harness.CpuUse({**pids, **workers})
                results, elapsed = harness.run_load("127.0.0.1", port, requests, connections, args.seconds,
                                                    keep_body=True)
                used, cores, switches = str(cpu), cpu.cores(), cpu.switches()  # before the answers are read below
                print(f"  {connections} connection(s), {args.seconds:g} s, load average before {load}:")
                report_http(results, elapsed, reference)
                answered = sum(status == 200 for _, status, _, _ in results) / elapsed
                worker_switches = sum(value for name, value in switches.items() if name.startswith("worker"))
                print(f"    {used}\n    {cpu_per_request(cores, answered)}\n"
                      f"    context switches per request, workers: {worker_switches / (answered * elapsed):.1f}")
        finally:
            services.stop(api)


def start_database(directory: Path):
    """SecantusDB on a free port, as devstack starts it but with a larger cache (DATABASE_FLAGS);
    its URI is set in MONGODB_URI for `harness.stack`. Returns the process."""
    port = services.free_port()
    directory.mkdir(parents=True, exist_ok=True)
    command = [shutil.which("secantusd-py", path=str(harness.BIN)), "--host", "127.0.0.1", "--port", str(port),
               "--storage-path", str(directory / "mongo"), "--log-level", "WARNING", *DATABASE_FLAGS]
    proc = services.spawn(command, directory / "mongo.log")
    uri = f"mongodb://127.0.0.1:{port}/marketrec_bench"
    services.wait_until(lambda: services.mongo_answers(uri), 30, "SecantusDB", proc)
    os.environ["MONGODB_URI"] = uri
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=10_000, help="kept small to save ingestion time")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--visitors", type=int, default=5_000, help="anonymous visitors in the mix")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--servers", nargs="+", default=["gevent", "gthread:8"],
                        help="gunicorn worker classes: gevent, sync, gthread:N (N threads per worker)")
    parser.add_argument("--user-actions", type=int, default=1_000_000,
                        help="user actions stored, as browsing sessions of the users and visitors")
    parser.add_argument("--calls", type=int, default=400, help="in-process calls per figure")
    parser.add_argument("--call-seconds", type=float, default=60.0,
                        help="at most this long per in-process figure (first views may be slow)")
    parser.add_argument("--views-per-session", type=float, default=5.0,
                        help="requests per browsing session on average (1: every request a new session)")
    parser.add_argument("--keep-database", type=Path, metavar="DIR",
                        help="keep SecantusDB's files here; a later run of the same sizes skips seeding")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="profile N requests of the mix through the WSGI app")
    parser.add_argument("--no-http", action="store_true", help="stop before the API under gunicorn")
    args = parser.parse_args()
    os.chdir(ROOT)
    rng = random.Random(0)
    visitor_ids = harness.visitor_ids(args.visitors)
    row("load average at start (1, 5, 15 min)", harness.load_average())
    row("threads", f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} here and in every API worker")
    kept = args.keep_database.resolve() if args.keep_database else None
    if kept and (kept / "db").exists() and not (kept / "seeded.json").exists():
        raise SystemExit(f"{kept} holds a database whose seeding did not finish: remove it, or name another")
    database_directory = kept or Path(tempfile.mkdtemp(prefix="marketrec-serving-bench-db-"))
    database = None if "MONGODB_URI" in os.environ else start_database(database_directory / "db")
    try:
        run(args, rng, visitor_ids, database, kept)
    finally:
        services.stop(database)
        if kept is None:
            shutil.rmtree(database_directory, ignore_errors=True)


SEEDED_SIZES = ("services", "users", "projects", "events", "visitors", "user_actions")


def seeded(args, rng: random.Random, visitor_ids: list[str], kept: Path | None) -> dict:
    """`seed_marketplace`, or what an earlier run of the same sizes stored in the kept database."""
    record = kept / "seeded.json" if kept else None
    sizes = {name: getattr(args, name) for name in SEEDED_SIZES}
    dump = marketplace(args)  # made once: seeding stores it, the NCF version is shaped by it
    if record and record.exists():
        ids = json.loads(record.read_text())
        if ids.pop("sizes") != sizes:
            raise SystemExit(f"{kept} holds a run of other sizes")
        row("seeding skipped", f"the database in {kept} holds it")
    else:
        ids = seed_marketplace(args, dump, rng, visitor_ids)
        if record:
            record.write_text(json.dumps({"sizes": sizes, **ids}))
    register_ncf(dump, ids["snapshot_id"])
    # Seeding wrote no history copy, but a Redis named by REDIS_URL may hold an older run's.
    recent_history.forget_all()
    return ids


def run(args, rng: random.Random, visitor_ids: list[str], database, kept: Path | None) -> None:
    with harness.stack("marketrec-serving-bench-") as (settings, procs, workdir):
        pids = {"client": os.getpid()}
        if database is not None:
            pids["database"] = database.pid
        if "REDIS_URL" not in os.environ:
            pids["redis"] = procs[0].pid
        with create_app(settings).app_context():
            ids = seeded(args, rng, visitor_ids, kept)
            mix = harness.RecommendationMix(ids["user_ids"], ids["service_ids"], ids["visitor_ids"], seed=1,
                                            views_per_session=args.views_per_session)
            cold = harness.RecommendationMix(ids["user_ids"], ids["service_ids"], ids["visitor_ids"], seed=2)
            misses = CopyMisses()
            if args.profile:
                profile(mix, misses, args.profile)
            reference = in_process(mix, cold, misses, args.calls, args.call_seconds, pids.get("database"))
        if not args.no_http:
            serve_and_load(args, settings, workdir, mix, misses, reference, pids)
        row("load average at the end", harness.load_average())


if __name__ == "__main__":
    main()
