"""What the NCF and RL pipelines share: the plan of a run and the clock of its steps.

Both run the same skeleton: plan (return a finished run of the same snapshot and
config as it is) → extract → ... → train → evaluate → register → validate model;
each step timed into the version's metrics, the job's percent moved through the
steps' spans.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict

from app.errors import DataRejected
from app.progress import Progress
from app.storage.models import ModelVersion
from app.storage.snapshots import active_snapshot_id


def config_digest(config) -> str:
    """A short digest of a training config dataclass: runs are idempotent per (snapshot, digest)."""
    return hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode()).hexdigest()[:16]


def plan_run(engine: str, snapshot_id: str | None, config) -> tuple[str, str, dict | None]:
    """The snapshot a run trains on (the active one by default), its config digest, and
    the outcome of a finished run of the same pair, if any (then nothing is trained)."""
    snapshot_id = snapshot_id or active_snapshot_id()
    if snapshot_id is None:
        raise DataRejected("no active dataset snapshot to train on", {"snapshot_id": "none is active"})
    digest = config_digest(config)
    done = ModelVersion.objects(engine=engine, dataset_id=snapshot_id, config__digest=digest,
                                status__in=("candidate", "active", "retired")).first()
    existing = {"status": "exists", "model_id": str(done.id), "model_status": done.status} if done else None
    return snapshot_id, digest, existing


class StepClock:
    """Times each step and reports overall progress to the job; `spans` gives each step
    its share of the overall percent (the train step's is filled by the trainer's own)."""

    def __init__(self, spans: dict[str, tuple[float, float]], progress: Progress):
        self.spans, self.progress, self.steps, self.curve = spans, progress, [], []

    def run(self, name: str, work: Callable, **details):
        self.progress(name, self.spans[name][0], **details)
        began = time.perf_counter()
        result = work()
        self.steps.append({"step": name, "seconds": round(time.perf_counter() - began, 3)})
        return result

    def training_progress(self, step: str, percent: float, **details) -> None:
        """Map the trainer's per-step percent into the train span; keep the loss curve of
        trainers that report epochs and losses (NCF's)."""
        if "loss" in details and "epoch" in details:
            self.curve.append({"phase": step, "epoch": details["epoch"], "loss": details["loss"],
                               "hr@10": details.get("validation_hr_at_10") or details.get("hr@10")})
        low, high = self.spans["train"]
        self.progress("train", low + (high - low) * percent / 100, phase=step, **details)
