"""What the HTTP benchmarks share: starting the database, broker and API on free
ports, a keep-alive HTTP/1.1 load generator on asyncio, percentiles, and the CPU
each process (and the whole shared machine) used during a phase."""
from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from devstack import services  # noqa: E402

BIN = Path(sys.executable).parent

# One request to send: (path, JSON body, a tag kept beside its result).
Request = tuple[str, bytes, object]


def start_stack(workdir: Path) -> tuple[dict, list]:
    """Settings for the database and broker, started here unless MONGODB_URI / REDIS_URL
    name running ones (SecantusDB on disk: in memory its cache cannot hold big snapshots);
    the processes to stop."""
    procs = []
    mongo_uri = os.environ.get("MONGODB_URI")
    if not mongo_uri:
        port = services.free_port()
        procs.append(services.start_mongo(port, str(workdir / "mongo"), workdir / "mongo.log"))
        mongo_uri = f"mongodb://127.0.0.1:{port}/marketrec_bench"
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        port = services.free_port()
        procs.append(services.start_redis(port, workdir / "redis", workdir / "redis.log"))
        redis_url = f"redis://127.0.0.1:{port}/0"
    settings = {"APP_ENV": "testing", "MONGODB_URI": mongo_uri, "REDIS_URL": redis_url,
                "CELERY_BROKER_URL": redis_url, "CELERY_RESULT_BACKEND": redis_url, "LOG_LEVEL": "WARNING"}
    return settings, procs


@contextmanager
def stack(prefix: str) -> Iterator[tuple[dict, list, Path]]:
    """`start_stack` in a fresh temporary directory: (settings, processes, directory); on the
    way out the processes are stopped and the directory removed."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    procs = []
    try:
        settings, procs = start_stack(workdir)
        yield settings, procs, workdir
    finally:
        for proc in reversed(procs):
            services.stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def server_settings(server: str) -> dict[str, str]:
    """gunicorn's worker settings for a `server` argument of the benchmarks: `gevent`, `sync`,
    or `gthread:N` (N threads per worker)."""
    kind, _, threads = server.partition(":")
    if kind not in ("gevent", "gthread", "sync") or (kind == "gthread") != threads.isdigit():
        raise ValueError(f"unknown server {server!r}: gevent, sync or gthread:N")
    return {"GUNICORN_WORKER_CLASS": kind, **({"GUNICORN_THREADS": threads} if threads else {})}


def start_api(settings: dict, port: int, *, workers: int = 2, server: str | None = None,
              log_path: Path | None = None, timeout: float = 60):
    """The API under gunicorn with gunicorn.conf.py (run from the repository root), one torch
    thread per process; `server` (see `server_settings`) None keeps the configured worker
    class. It logs as in production, a line per request (LOG_LEVEL INFO), to `log_path`
    (or nowhere)."""
    env = {**os.environ, **settings, "OMP_NUM_THREADS": "1", "BIND": f"127.0.0.1:{port}",
           "WEB_CONCURRENCY": str(workers), "LOG_LEVEL": "INFO", **(server_settings(server) if server else {})}
    proc = services.spawn([str(BIN / "gunicorn"), "app:create_app()", "-c", str(ROOT / "gunicorn.conf.py")],
                          log_path, env=env)
    services.wait_until(lambda: services.port_open("127.0.0.1", port), timeout, "gunicorn", proc)
    return proc


async def _open(host: str, port: int):
    return await asyncio.open_connection(host, port)


async def _client(host: str, port: int, next_request: Callable[[], Request], headers: str, stop_at: float,
                  results: list, delay: float, keep_body: bool) -> None:
    # Connections opened in a burst all land on whichever worker accepts first;
    # opened one by one, an idle worker takes its share.
    await asyncio.sleep(delay)
    reader, writer = await _open(host, port)
    while time.monotonic() < stop_at:
        path, body, tag = next_request()
        head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{headers}"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        start = time.perf_counter()
        writer.write(head + body)
        status = int((await reader.readline()).split()[1])
        answer_headers = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        length = next((int(line.split(":")[1]) for line in answer_headers.split("\r\n")
                       if line.startswith("content-length:")), 0)
        answer = await reader.readexactly(length) if length else b""
        results.append((time.perf_counter() - start, status, tag, answer if keep_body else None))
        if "connection: close" in answer_headers:  # the sync worker closes every connection
            writer.close()
            reader, writer = await _open(host, port)
    writer.close()


def run_load(host: str, port: int, next_request: Callable[[], Request], connections: int, seconds: float,
             *, headers: dict | None = None, keep_body: bool = False) -> tuple[list, float]:
    """Each connection sends `next_request()` after the previous answer, until `seconds` pass.
    Results are (seconds, status, tag, body or None) tuples; also returns the elapsed time."""
    results: list = []
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())

    async def main():
        stop_at = time.monotonic() + seconds
        await asyncio.gather(*(_client(host, port, next_request, extra, stop_at, results, 0.02 * number, keep_body)
                               for number in range(connections)))

    started = time.perf_counter()
    asyncio.run(main())
    return results, time.perf_counter() - started


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The value at `fraction` of an ascending list (nearest rank); nan when empty."""
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def context_switches(pid: int) -> int:
    """Voluntary and involuntary context switches of all threads of a process so far (Linux /proc)."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            lines = status.read_text().splitlines()
        except (FileNotFoundError, ProcessLookupError):  # a thread that ended meanwhile
            continue
        total += sum(int(line.split()[1]) for line in lines if line.split(":")[0].endswith("ctxt_switches"))
    return total


def machine_busy_seconds() -> float:
    """CPU time every process on the machine has used so far, in core-seconds."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


class CpuUse:
    """Cores each process used during a phase, and the whole machine's (other users included)."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.start_switches = {name: context_switches(pid) for name, pid in pids.items()}
        self.machine, self.started = machine_busy_seconds(), time.monotonic()

    def switches(self) -> dict[str, int]:
        """Context switches of each process since the phase began (a thread handing over the
        GIL, or waiting on a socket, is one)."""
        return {name: context_switches(pid) - self.start_switches[name] for name, pid in self.pids.items()}

    def cores(self) -> dict[str, float]:
        """Cores each process used since the phase began."""
        elapsed = time.monotonic() - self.started
        return {name: (cpu_seconds(pid) - self.start[name]) / elapsed for name, pid in self.pids.items()}

    def __str__(self) -> str:
        elapsed = time.monotonic() - self.started
        used = self.cores()
        machine = (machine_busy_seconds() - self.machine) / elapsed
        return ("cores used: " + ", ".join(f"{name} {value:.2f}" for name, value in used.items())
                + f"; whole machine {machine:.2f} of {os.cpu_count()}")


def memory(pid: int) -> dict[str, int]:
    """RSS, PSS and USS of a process in bytes, from /proc/<pid>/smaps_rollup:
    - RSS, what `ps` shows: it counts a shared page in every process that maps it;
    - USS (private pages): what the process alone holds, i.e. what one more such process costs;
    - PSS: each shared page divided among the processes that map it (summed: the host's real total)."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0]) * 1024
    return {"rss": fields["Rss"], "pss": fields["Pss"],
            "uss": fields["Private_Clean"] + fields["Private_Dirty"]}


def worker_pids(arbiter: int) -> list[int]:
    children = Path(f"/proc/{arbiter}/task/{arbiter}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def random_uuid(rng) -> str:
    """A version-4 UUID string drawn from `rng` (a random.Random), so that runs repeat."""
    import uuid

    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def visitor_ids(count: int, seed: int = 0) -> list[str]:
    """Browser session ids (`unique_id`) of `count` anonymous visitors."""
    import random

    rng = random.Random(seed)
    return [random_uuid(rng) for _ in range(count)]


class RecommendationMix:
    """POST /recommendations bodies as a marketplace sends them: logged-in users asking NCF for
    a panel (v1 or v2) of all services or of their search results (20-200 candidates), a few
    rankings of search results, and anonymous visitors (some with stored events), with and
    without candidates. Standard library only: the locust file uses it as well.

    Requests come in browsing sessions: a session (a user or an anonymous visitor, with one
    `unique_id`) makes `views_per_session` requests on average, interleaved with other
    sessions' requests; `views_per_session=1` makes every request a new session."""

    # kind → share of requests
    KINDS = {"user_panel": 40, "user_candidates": 15, "user_ranking": 5, "visitor_panel": 25,
             "visitor_candidates": 15}
    ACTIVE_SESSIONS = 1000  # sessions a returning request may belong to

    def __init__(self, user_ids, service_ids, visitor_ids, seed: int = 0, views_per_session: float = 1.0):
        """Ids are sequences (lists or ranges: a range of 100k ids costs nothing per client)."""
        import random
        from collections import deque

        self.rng = random.Random(seed)
        self.user_ids, self.service_ids, self.visitor_ids = user_ids, service_ids, visitor_ids
        self.kinds, self.weights = list(self.KINDS), list(self.KINDS.values())
        self.views_per_session = views_per_session
        self.sessions = {"user": deque(maxlen=self.ACTIVE_SESSIONS), "visitor": deque(maxlen=self.ACTIVE_SESSIONS)}

    def _uuid(self) -> str:
        return random_uuid(self.rng)

    def _session(self, who: str) -> tuple[int | None, str]:
        """(user id or None, unique_id): a new session with chance 1 / views_per_session, else an active one."""
        active = self.sessions[who]
        if active and self.rng.random() >= 1.0 / self.views_per_session:
            return self.rng.choice(active)
        if who == "user":
            session = (self.rng.choice(self.user_ids), self._uuid())
        else:
            session = (None, self.rng.choice(self.visitor_ids))
        active.append(session)
        return session

    def payload(self, kind: str | None = None) -> tuple[str, dict]:
        """(kind, request body) of one request; `kind` None picks one by its share."""
        from datetime import datetime, timezone

        rng = self.rng
        kind = kind or rng.choices(self.kinds, self.weights)[0]
        user_id, unique_id = self._session("user" if kind.startswith("user") else "visitor")
        body = {
            "unique_id": unique_id,
            "client_id": "search_service" if kind == "user_ranking" else "marketplace",
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "visit_id": self._uuid(),
            "page_id": "/services" if kind.endswith("candidates") or kind.endswith("ranking") else "/services/x",
            "panel_id": rng.choice(("v1", "v2")),
            "engine_version": "NCFRanking" if kind == "user_ranking" else "NCF",
            "search_data": {},
        }
        if user_id is not None:
            body["user_id"] = user_id
        if kind.endswith("candidates") or kind.endswith("ranking"):
            body["candidates"] = rng.sample(self.service_ids, rng.randint(20, 200))
            body["search_data"] = {"q": "", "categories": []}
        return kind, body
