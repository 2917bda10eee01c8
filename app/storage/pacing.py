"""Bulk reads in bounded windows, with a rest after each.

SecantusDB, the embedded default, collects a query's whole index range before it
answers (about 30 µs a document, whatever the limit, sort or projection) and serves
no other client meanwhile: one read of 9,000 services held every request for 0.4 s.
So a reader of many documents asks for windows of about WINDOW_DOCS, each bounded on
both sides of an indexed key, and rests after each one so that other clients'
operations are served between windows rather than queued behind the next. Real
MongoDB does not need the rests; they cost a bulk reader about a third of its time.

Windows were 500 documents until the MovieLens 100K replay: a window of 500 user actions
held SecantusDB for up to 100 ms, and the API's writes that met one (at every refit, even
one reading only the last minutes) made their p99 100 ms. Beside a read of 13,238
interactions (`benchmarks/read_all_interactions.py --actions 30000 --events 3000
--readers windows:500,windows:100`, twice each), single durable inserts waited p99 41 to
48 ms with windows of 500 and 16 ms with 100; the read took 5.0 s and 6.2 s.
"""
from __future__ import annotations

import time

WINDOW_DOCS = 100
PACE_SHARE = 0.5
PACE_MAX_SECONDS = 0.05


def rest_after(window_seconds: float) -> None:
    """Sleep PACE_SHARE of the time a window took to read, at most PACE_MAX_SECONDS."""
    time.sleep(min(PACE_SHARE * window_seconds, PACE_MAX_SECONDS))
