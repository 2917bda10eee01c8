"""Keeps `make run`'s processes running: one that exits is started again, after a pause
that doubles with each quick exit (1 s, 2 s, 4 s ... up to 30 s) and starts from 1 s again
once the process has run a minute. A worker that exits when the broker goes away, or
Redis killed by an operator, so comes back on its own instead of stopping the stack."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

FIRST_PAUSE = 1.0
LONGEST_PAUSE = 30.0
STEADY_AFTER = 60.0  # a process that ran this long exited for a new reason: first pause again


@dataclass
class Supervised:
    """A process `start` can start again; `say` reports what happens to it."""

    name: str
    start: Callable[[], subprocess.Popen]
    say: Callable[[str], None] = print
    proc: subprocess.Popen | None = None
    restarts: int = 0
    pause: float = FIRST_PAUSE
    started_at: float = 0.0
    restart_at: float | None = None
    clock: Callable[[], float] = field(default=time.monotonic)

    def launch(self) -> None:
        self.proc = self.start()
        self.started_at = self.clock()
        self.restart_at = None

    def check(self) -> None:
        """Called often: notices an exit, and restarts once its pause is over."""
        now = self.clock()
        if self.restart_at is not None:
            if now >= self.restart_at:
                self._kill_leftovers()
                self.restarts += 1
                self.say(f"{self.name}: starting again (restart {self.restarts})")
                try:
                    self.launch()
                except Exception as exc:  # noqa: BLE001 - a start that fails is retried like an exit
                    self._schedule(now, f"could not start ({exc})")
            return
        if self.proc is None or self.proc.poll() is None:
            return
        if now - self.started_at >= STEADY_AFTER:
            self.pause = FIRST_PAUSE
        self._schedule(now, f"exited with code {self.proc.returncode}")

    def _schedule(self, now: float, what: str) -> None:
        self.say(f"{self.name} {what}: starting it again in {self.pause:g} s")
        self.restart_at = now + self.pause
        self.pause = min(self.pause * 2, LONGEST_PAUSE)

    def _kill_leftovers(self) -> None:
        """Children of the exited process (a worker's pool) would hold its queue and sockets."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # started with start_new_session: its own group
        except (ProcessLookupError, PermissionError, AttributeError):
            pass

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self.restart_at is None
