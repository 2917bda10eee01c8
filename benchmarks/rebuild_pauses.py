"""How long a serving-state rebuild holds the other requests of a gevent API worker.

    .venv/bin/python benchmarks/rebuild_pauses.py [--services 10000] [--users 100000] [--rounds 2]

Under gunicorn's gevent worker a rebuild runs as a greenlet beside the worker's
requests, which run only where it waits on the database or hands CPU work to a
native thread (app/offload.py). This process is monkey-patched the same way; it
seeds the marketplace of benchmarks/serving.py (SecantusDB and Redis on free
ports unless MONGODB_URI / REDIS_URL name running ones), then builds the whole
state (catalogue index, the users' features, every engine: what a new snapshot
or NCF version costs) in a greenlet while another greenlet wakes every
millisecond. The longest gaps between its wake-ups are the longest a request
could have waited. Each round runs with the garbage collector on, then off,
since its full passes pause every thread alike.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import gc  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

os.environ.setdefault("OMP_NUM_THREADS", "1")
import gevent  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app import create_app  # noqa: E402
from app.recommendations.serving_state import build_state, current_stamp  # noqa: E402
from benchmarks import harness, serving  # noqa: E402


def longest_pauses(app, count: int = 3) -> tuple[float, list[float]]:
    """Seconds of one full build, and the `count` longest gaps (ms) of a 1 ms ticker meanwhile."""
    gaps, done = [], []

    def ticker():
        last = time.perf_counter()
        while not done:
            gevent.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    def build():
        with app.app_context():
            build_state(current_stamp())

    watcher = gevent.spawn(ticker)
    started = time.perf_counter()
    gevent.spawn(build).get()
    elapsed = time.perf_counter() - started
    done.append(True)
    watcher.join()
    return elapsed, sorted((gap * 1000 for gap in gaps), reverse=True)[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.chdir(ROOT)
    serving.row("load average at start (1, 5, 15 min)", harness.load_average())
    with harness.stack("marketrec-rebuild-bench-") as (settings, _, _):
        app = create_app(settings)
        with app.app_context():
            serving.seed_marketplace(args, random.Random(0), harness.visitor_ids(1_000))
        longest_pauses(app)  # the first build pays for imports and the database's cache
        for round_ in range(1, args.rounds + 1):
            for collector in ("on", "off"):
                gc.enable() if collector == "on" else gc.disable()
                elapsed, pauses = longest_pauses(app)
                serving.row(f"round {round_}, garbage collector {collector}",
                            f"build {elapsed:.1f} s; longest pauses " + ", ".join(f"{p:.0f}" for p in pauses)
                            + f" ms (load {harness.load_average()})")
        gc.enable()


if __name__ == "__main__":
    main()
