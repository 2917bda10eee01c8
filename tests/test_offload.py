"""cpu_bound: CPU-long work leaves a gevent worker's other greenlets running; elsewhere a plain call."""
import json
import subprocess
import sys
import textwrap

import pytest

from app.offload import cpu_bound, under_gevent
from tests.conftest import ROOT


def test_without_gevent_it_is_a_plain_call():
    assert not under_gevent()
    assert cpu_bound(lambda a, b: a + b, 2, 3) == 5
    with pytest.raises(ZeroDivisionError):
        cpu_bound(lambda: 1 / 0)


# Run in a child: monkey-patching is for the whole process.
UNDER_GEVENT = textwrap.dedent("""
    from gevent import monkey; monkey.patch_all()
    import contextvars, json, time
    import gevent
    from app.offload import cpu_bound, under_gevent

    request_id = contextvars.ContextVar("request_id")

    def busy(seconds):
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass
        return request_id.get()

    def longest_stall(work):
        gaps, done = [], []
        def ticker():
            last = time.perf_counter()
            while not done:
                gevent.sleep(0.001)
                now = time.perf_counter(); gaps.append(now - last); last = now
        watcher = gevent.spawn(ticker)
        gevent.sleep(0.01)
        result = work()
        done.append(True); watcher.join()
        return result, max(gaps)

    request_id.set("r-1")
    offloaded, offloaded_stall = longest_stall(lambda: cpu_bound(busy, 1.0))
    inline, inline_stall = longest_stall(lambda: busy(1.0))
    try:
        cpu_bound(lambda: 1 / 0)
        raised = None
    except ZeroDivisionError as exc:
        raised = type(exc).__name__
    print(json.dumps({"under_gevent": under_gevent(), "offloaded": offloaded, "inline": inline,
                      "offloaded_stall": offloaded_stall, "inline_stall": inline_stall, "raised": raised}))
""")


def test_under_gevent_the_hub_keeps_running_and_results_context_and_errors_come_back():
    done = subprocess.run([sys.executable, "-c", UNDER_GEVENT], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["under_gevent"] is True
    assert seen["offloaded"] == seen["inline"] == "r-1"  # the caller's context variables are visible
    assert seen["raised"] == "ZeroDivisionError"
    assert "Traceback" not in done.stderr  # raised in the caller only, not printed by gevent's pool too
    assert seen["inline_stall"] >= 0.9  # the same work in the greenlet holds every other one
    assert seen["offloaded_stall"] < 0.3, seen  # off the hub, others run between switch intervals


def test_without_gc_pauses_the_collector_and_restores_it_as_it_was():
    import gc

    from app.offload import without_gc

    assert gc.isenabled()
    assert without_gc(gc.isenabled) is False
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError):
        without_gc(lambda: 1 / 0)
    assert gc.isenabled()
    gc.disable()
    try:
        without_gc(len, [])
        assert not gc.isenabled()  # left off by its owner: not turned on behind its back
    finally:
        gc.enable()
