"""`make run`: the whole service in the foreground, stopped as one on Ctrl-C.

Starts SecantusDB unless MONGODB_URI is set, Redis unless one answers at
REDIS_URL, then the API (gunicorn), one worker per queue and beat. A process
that exits is started again with a growing pause (devstack/supervisor.py), and
said so; SIGINT/SIGTERM stops every process it started.
MARKETREC_VAR moves the runtime files from ./var elsewhere (benchmarks/replay.py
runs a stack of its own there); MARKETREC_DEMO=0 loads no demo data.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from devstack import services
from devstack.supervisor import Supervised

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("MARKETREC_VAR") or ROOT / "var").resolve()
BIN = services.VENV_BIN


def say(message: str) -> None:
    print(f"[make run] {message}", flush=True)


def start_dependencies(env: dict, started: list) -> None:
    if not env.get("MONGODB_URI"):
        port = int(env.get("MONGODB_PORT", "27017"))
        uri = f"mongodb://127.0.0.1:{port}/marketrec"
        if services.mongo_answers(uri):
            say(f"a MongoDB server already answers on port {port}: using it")
        else:
            say(f"starting SecantusDB on port {port}, data in {VAR / 'mongo'}")
            started.append(Supervised("secantusdb", lambda: services.start_mongo(
                port, str(VAR / "mongo"), VAR / "log" / "mongo.log"), say))
            started[-1].launch()
        env["MONGODB_URI"] = uri
    redis_url = env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    if services.redis_answers(redis_url):
        say(f"Redis answers at {redis_url}: using it")
    else:
        port = services.redis_port(redis_url)
        say(f"starting redis-server on port {port}")
        started.append(Supervised("redis", lambda: services.start_redis(
            port, VAR / "redis", VAR / "log" / "redis.log"), say))
        started[-1].launch()


def service_commands() -> list[tuple[str, list[str]]]:
    celery = [str(BIN / "celery"), "-A", "worker"]
    return [
        ("api", [str(BIN / "gunicorn"), "app:create_app()", "-c", "gunicorn.conf.py"]),
        ("worker", celery + ["worker", "-Q", "default", "-n", "default@%h", "--loglevel", "INFO"]),
        ("trainer", celery + ["worker", "-Q", "training", "-n", "training@%h", "--concurrency", "1",
                              "--prefetch-multiplier", "1", "--loglevel", "INFO"]),
        ("beat", celery + ["beat", "--schedule", str(VAR / "celerybeat-schedule"), "--loglevel", "INFO"]),
    ]


def prepare(env: dict) -> None:
    metrics_dir = VAR / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)  # counters of a previous run are stale
    metrics_dir.mkdir(parents=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    env.setdefault("OMP_NUM_THREADS", "1")
    flask = [str(BIN / "flask"), "--app", "app"]
    subprocess.run(flask + ["db", "ensure-indexes"], env=env, cwd=ROOT, check=True)


def load_demo_data(env: dict) -> subprocess.Popen:
    """Something to recommend from on a fresh database, loaded while the service is
    already up (a no-op once a snapshot is active); its output goes to var/log/demo.log."""
    say("loading demo data (MovieLens 100K) in the background unless a snapshot is active (var/log/demo.log)")
    say("demo data is only a demo: its user actions, events and served recommendations are dropped "
        "when the marketplace's own first dump (POST /update) is switched in")
    log = open(VAR / "log" / "demo.log", "ab")
    return subprocess.Popen([str(BIN / "flask"), "--app", "app", "data", "demo"], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def supervise(started: list[Supervised], one_shots: list) -> int:
    stopping = {"signal": None}

    def on_signal(signum, _frame):
        stopping["signal"] = signum

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while stopping["signal"] is None:
        for name, proc in list(one_shots):
            if proc.poll() is not None:
                say(f"{name} finished with code {proc.returncode}")
                one_shots.remove((name, proc))
        for process in started:
            process.check()
        time.sleep(0.5)
    say("stopping")
    return 0


def main() -> int:
    (VAR / "log").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    started: list[Supervised] = []
    one_shots: list[tuple[str, subprocess.Popen]] = []
    code = 1
    try:
        start_dependencies(env, started)
        prepare(env)
        for name, command in service_commands():
            # The app's own processes log to this terminal; the databases to var/log.
            process = Supervised(name, lambda command=command: subprocess.Popen(
                command, env=env, cwd=ROOT, start_new_session=True), say)
            process.launch()
            started.append(process)
        port = env.get("BIND", "0.0.0.0:5000").rpartition(":")[2]  # gunicorn.conf.py binds BIND
        say(f"API on http://127.0.0.1:{port} (Swagger UI at /), Ctrl-C stops everything")
        if env.get("MARKETREC_DEMO", "1") != "0":
            one_shots.append(("demo data", load_demo_data(env)))
        code = supervise(started, one_shots)
    except services.ServiceError as exc:
        say(str(exc))
    finally:
        for proc in reversed([proc for _name, proc in one_shots] + [process.proc for process in started]):
            services.stop(proc)
        say("all processes stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
