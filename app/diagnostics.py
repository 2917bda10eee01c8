"""A self-check that exercises every dependency a worker needs."""
from __future__ import annotations

import os
import socket
import time
import uuid

from app.progress import Progress, no_progress
from app.storage import database
from app.storage.jobs import utcnow


def run_selfcheck(progress: Progress = no_progress) -> dict:
    """Write, read back and delete a probe document; report who did it and how fast."""
    probes = database()["selfcheck_probes"]
    probe_id = str(uuid.uuid4())
    began = time.perf_counter()
    progress("write", 10)
    probes.insert_one({"_id": probe_id, "at": utcnow(), "pid": os.getpid()})
    progress("read", 50)
    found = probes.find_one({"_id": probe_id})
    progress("clean", 90)
    probes.delete_one({"_id": probe_id})
    if found is None:
        raise RuntimeError("the probe document written to MongoDB could not be read back")
    return {
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "database": "ok",
        "roundtrip_ms": round((time.perf_counter() - began) * 1000, 2),
    }
