"""Memory of the API workers holding an NCF version: mapped weights files against a copy per worker.

    .venv/bin/python benchmarks/worker_memory.py [--users 1000000] [--services 100000] [--workers 1 2 4]

Starts SecantusDB and Redis (benchmarks/harness.py), registers and activates an NCF version
with random weights of the real layout (benchmarks/serving.py `random_ncf`: one trained row
per user), then, for each worker count and each way of holding weights, starts the API
under gunicorn, waits until every worker has logged its serving state warm with the NCF
version loaded, and reads each
process's /proc/<pid>/smaps_rollup:
- RSS, what `ps` shows: it counts a shared page in every process that maps it;
- USS (private pages): what the process alone holds, i.e. what one more worker costs;
- PSS: each shared page divided among the processes that map it; summed over the
  processes, the host's real total.
"mapped" is the default (WEIGHTS_CACHE_DIR: every worker maps one file per version);
"copied" is WEIGHTS_CACHE_DIR empty (each worker decodes its own arrays).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app import create_app, model_registry  # noqa: E402
from benchmarks import harness  # noqa: E402
from benchmarks.serving import random_ncf  # noqa: E402
from devstack import services  # noqa: E402

MIB = 2**20


def warmed_workers(api, log: Path, workers: int, timeout: float = 900) -> list[int]:
    """The workers' pids once each has logged that its serving state is warm (gunicorn.conf.py
    post_worker_init), with the NCF version loaded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        warmed = [json.loads(line) for line in lines if '"serving state warmed"' in line]
        if len(warmed) >= workers:
            if not all("NCF" in line.get("model_versions", {}) for line in warmed):
                raise RuntimeError(f"a worker warmed without the NCF version: {warmed}")
            time.sleep(2)  # what the build left behind is freed
            return harness.worker_pids(api.pid)
        if api.poll() is not None:
            raise RuntimeError(f"the API exited with {api.returncode}")
        time.sleep(0.5)
    raise TimeoutError("the workers did not warm their serving state")


def measure(settings: dict, workdir: Path, workers: int, weights_dir: str) -> list[dict[str, int]]:
    log = workdir / f"api-{workers}-{'mapped' if weights_dir else 'copied'}.log"
    port = services.free_port()
    api = harness.start_api({**settings, "WEIGHTS_CACHE_DIR": weights_dir}, port, workers=workers, log_path=log,
                            timeout=900)
    try:
        return [harness.memory(pid) for pid in warmed_workers(api, log, workers)]
    finally:
        services.stop(api)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    with harness.stack("worker-memory-") as (settings, _, workdir):
        app = create_app({**settings, "API_TOKENS": [], "RECOMMENDATION_TOKENS": []})
        began = time.perf_counter()
        model = random_ncf(np.arange(1, args.users + 1), np.arange(1, args.services + 1))
        with app.app_context():
            version = model_registry.register("NCF", model.to_arrays(), model.params(), dataset_id=None)
            model_registry.activate(version)
        del model
        print(f"NCF of {args.users:,} users and {args.services:,} services: {version.weights_bytes / MIB:.0f} MiB "
              f"of weights, registered in {time.perf_counter() - began:.0f} s; load {harness.load_average()}")
        print("| weights | workers | RSS per worker (MiB) | USS per worker | PSS, all workers | load |")
        print("|---|---|---|---|---|---|")
        for workers in args.workers:
            for name, directory in (("mapped", str(workdir / "weights")), ("copied", "")):
                figures = measure(settings, workdir, workers, directory)
                rss = "/".join(f"{f['rss'] / MIB:.0f}" for f in figures)
                uss = "/".join(f"{f['uss'] / MIB:.0f}" for f in figures)
                pss = sum(f["pss"] for f in figures) / MIB
                print(f"| {name} | {workers} | {rss} | {uss} | {pss:.0f} | {harness.load_average()} |", flush=True)


if __name__ == "__main__":
    main()
