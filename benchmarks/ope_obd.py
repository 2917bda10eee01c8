"""IPS and SNIPS of the Bernoulli TS policy's click rate, estimated from the uniform random policy's log
of the Open Bandit Dataset sample, beside the click rate BTS really got in its own log.

    .venv/bin/python benchmarks/ope_obd.py [DEST]   (default var/data/obd; fetched once)

The BTS probability of a logged (item, position) is approximated by BTS's own empirical
frequency of that item at that position (or over all positions): see app/sample_data/open_bandit.py.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.sample_data.open_bandit import estimate_bts_from_random  # noqa: E402
from app.sample_data.open_bandit_files import fetch_open_bandit_sample  # noqa: E402


def main(destination: str = "var/data/obd") -> None:
    obd = fetch_open_bandit_sample(destination)
    print("| BTS probability from | estimator | estimate | 95% interval | BTS observed | contains | seconds |")
    print("|---|---|---|---|---|---|---|")
    for per_position in (True, False):
        started = time.perf_counter()
        check = estimate_bts_from_random(obd, per_position=per_position)
        seconds = time.perf_counter() - started
        label = "item at that position" if per_position else "item over all positions"
        for name, estimate in (("IPS", check.ips), ("SNIPS", check.snips)):
            print(f"| {label} | {name} | {estimate.value:.5f} | [{estimate.low:.5f}, {estimate.high:.5f}] | "
                  f"{check.observed:.5f} | {estimate.contains(check.observed)} | {seconds:.2f} |")
    print(f"\n{check.rounds} random-policy rounds, campaign 'all'.")


if __name__ == "__main__":
    main(*sys.argv[1:])
