"""`make run` starts a process that exits again, after a pause that grows while it keeps failing."""
import subprocess
import sys

from devstack.supervisor import FIRST_PAUSE, LONGEST_PAUSE, STEADY_AFTER, Supervised


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def exiting(code: int):
    def start() -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"], start_new_session=True)
        proc.wait()
        return proc
    return start


def supervised(start, clock) -> tuple[Supervised, list[str]]:
    said: list[str] = []
    process = Supervised("worker", start, said.append, clock=clock)
    process.launch()
    return process, said


def test_an_exited_process_is_started_again_after_a_growing_pause():
    clock = Clock()
    process, said = supervised(exiting(3), clock)
    pauses = []
    for _ in range(7):
        process.check()  # notices the exit
        assert not process.running
        pauses.append(process.restart_at - clock.now)
        process.check()  # too early: nothing happens
        assert process.restart_at is not None
        clock.now = process.restart_at
        process.check()  # starts it again
    assert pauses == [1, 2, 4, 8, 16, 30, 30]
    assert process.restarts == 7
    assert "worker exited with code 3: starting it again in 1 s" in said
    assert "worker: starting again (restart 7)" in said


def test_the_pause_starts_over_once_the_process_ran_a_while():
    clock = Clock()
    process, _ = supervised(exiting(1), clock)
    for _ in range(3):
        process.check()
        clock.now = process.restart_at
        process.check()
    clock.now += STEADY_AFTER
    process.check()
    assert process.restart_at - clock.now == FIRST_PAUSE


def test_a_start_that_fails_is_tried_again_like_an_exit():
    clock = Clock()
    attempts = []

    def start():
        attempts.append(clock.now)
        if len(attempts) > 1:
            raise RuntimeError("port in use")
        return exiting(0)()

    process, said = supervised(start, clock)
    for _ in range(10):
        process.check()
        clock.now = process.restart_at or clock.now
    assert len(attempts) > 3
    assert any("could not start (port in use)" in line for line in said)
    assert max(b - a for a, b in zip(attempts, attempts[1:])) == LONGEST_PAUSE


def test_a_running_process_is_left_alone():
    clock = Clock()
    process, said = supervised(lambda: subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                                                       start_new_session=True), clock)
    try:
        process.check()
        assert process.running and said == []
    finally:
        process.proc.kill()
        process.proc.wait()
