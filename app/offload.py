"""CPU-long work of a request, run where it does not hold the worker's other requests.

Under gunicorn's gevent worker (the default, gunicorn.conf.py) all requests of a worker
share one OS thread, and it switches between them only where one waits on I/O. Parsing,
validating and compressing a 40 MB dump is seconds of CPU with no I/O: every other
request of that worker would wait for it. `cpu_bound` runs such work in a thread of
gevent's native pool instead, where the interpreter shares the CPU between it and the
requests as between any threads. Elsewhere (gthread, sync, Celery, notebooks) it calls
the function directly.

The function must not use the database or Redis: their sockets belong to the worker's
own thread.
"""
from __future__ import annotations

import contextvars
import gc
import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def under_gevent() -> bool:
    """True in a process whose threading gevent has monkey-patched (a gevent worker)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("threading")


def cpu_bound(function: Callable[..., T], *args) -> T:
    """`function(*args)`, off the gevent hub's thread when there is one; its exception is raised here."""
    if not under_gevent():
        return function(*args)
    import gevent

    context = contextvars.copy_context()  # Flask's application and request contexts come along
    # Brought back as a value: gevent's pool prints the traceback of anything a task raises,
    # and a 400 for a bad dump is no error of the server's.
    raised, outcome = gevent.get_hub().threadpool.apply(_outcome, (context, function, args))
    if raised:
        raise outcome
    return outcome


def _outcome(context: contextvars.Context, function: Callable, args: tuple) -> tuple[bool, object]:
    try:
        return False, context.run(function, *args)
    except BaseException as exc:  # noqa: BLE001 - re-raised by the caller
        return True, exc


def without_gc(function: Callable[..., T], *args) -> T:
    """`function(*args)` with the cyclic garbage collector paused. Parsing or decoding a large
    JSON document creates hundreds of thousands of containers; each allocation counts towards
    a collection, and every collection walks the whole heap of a process that holds torch,
    the serving state and more: latest-small's serving catalogue decoded in 0.09 s paused and
    0.41 s not, its 5.6 MB dump parsed and checked in 0.2 s or up to 0.55 s. JSON makes no
    reference cycles, so nothing is left for the collector afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return function(*args)
    finally:
        if enabled:
            gc.enable()
