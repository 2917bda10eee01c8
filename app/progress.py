"""How long work says how far it got: `progress(step, percent, **details)`.

A job reports it to /jobs (app.jobs.JobProgress), the CLI prints it, and a caller
that is not listening passes nothing: `no_progress` is every default."""
from __future__ import annotations

from collections.abc import Callable

Progress = Callable[..., None]


def no_progress(step: str, percent: float, **details) -> None:
    """Nobody is listening."""
