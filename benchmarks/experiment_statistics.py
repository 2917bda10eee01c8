"""Does the experiment report judge right? Repeated simulated experiments with known truth,
each looked at after every batch of people ("daily peeking") through the same code the
service runs: assignment (app/experiments/assignment.py), totals
(VariantTotals.from_units) and the report (summarize, fed its previous output).

    .venv/bin/python benchmarks/experiment_statistics.py [--runs 500] [--batch 200] [--max-people 20000]
        [--json PATH]

People are clustered: each has a click propensity per panel drawn from Beta(1, 19) (mean 5%)
and sees 1 + Poisson(3) panels; variant B's people have their propensity multiplied by the
setting's lift. Each run assigns fresh random visitor ids under a random experiment id, looks
after every `--batch` people and stops at the first verdict or at `--max-people`, the
pre-set maximum. Beside the sequential test: a two-proportion z-test on the same metric read
once at the maximum (the fixed-horizon test it replaces) and read at every look (the
peeking it must survive). One thread (BLAS/OpenMP pinned to 1); pure CPU, no services.
"""
from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import json
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.experiments.assignment import variant_index
from app.experiments.statistics import Z_95, summarize, wilson_interval
from app.experiments.totals import VariantTotals

SHARES = (0.5, 0.5)  # A (control), B
PANELS_EXTRA = 3.0  # panels per person: 1 + Poisson(3)
PROPENSITY = (1.0, 19.0)  # Beta parameters of a person's click probability per panel
ORDER_PER_CLICK = 0.1
SETTINGS = (("A/A", 1.0), ("B +20% clicks", 1.2), ("B +10% clicks", 1.1))


@dataclass
class Run:
    """What one simulated experiment ended with."""

    verdict: str | None  # "better" / "worse" for B, None when the maximum came first
    people_at_verdict: int | None
    z_test_at_every_look: bool  # a naive z-test would have declared a difference at some look
    z_test_at_max: bool  # the fixed-horizon z-test, read once at the maximum


def simulated_people(rng: np.random.Generator, count: int, lift: float) -> tuple[np.ndarray, ...]:
    """`count` visitors of a fresh experiment: their variant (through the service's hashing
    of fresh visitor ids) and their panels, panel clicks, orders and page clicks."""
    experiment_id = str(uuid.UUID(bytes=rng.bytes(16)))
    ids = rng.bytes(16 * count)
    arm = np.array([variant_index(experiment_id, f"visitor:{uuid.UUID(bytes=ids[16 * i:16 * i + 16])}", SHARES)
                    for i in range(count)])
    propensity = np.minimum(1.0, rng.beta(*PROPENSITY, count) * np.where(arm == 1, lift, 1.0))
    panels = 1 + rng.poisson(PANELS_EXTRA, count)
    clicks = rng.binomial(panels, propensity)
    orders = rng.binomial(clicks, ORDER_PER_CLICK)
    page_clicks = clicks + rng.poisson(1.0, count)  # other clicks on the page that showed the panel
    return arm, panels, clicks, orders, page_clicks


def z_says_different(totals: dict[str, VariantTotals], min_units: int) -> bool:
    """The two-proportion z-test (pooled) on the share of visitors who clicked, at 5%."""
    a, b = totals["A"], totals["B"]
    if min(a.units, b.units) < min_units:
        return False
    pooled = (a.clicked_units + b.clicked_units) / (a.units + b.units)
    spread = np.sqrt(pooled * (1 - pooled) * (1 / a.units + 1 / b.units))
    return bool(spread > 0 and abs(b.clicked_units / b.units - a.clicked_units / a.units) / spread >= Z_95)


def one_run(rng: np.random.Generator, lift: float, args: argparse.Namespace) -> Run:
    arm, *counts = simulated_people(rng, args.max_people, lift)
    previous, verdict, at, peeked = None, None, None, False
    for end in range(args.batch, args.max_people + 1, args.batch):
        totals = {name: VariantTotals.from_units(*(c[:end][arm[:end] == index] for c in counts))
                  for index, name in enumerate("AB")}
        peeked = peeked or z_says_different(totals, args.min_units)
        if verdict is None:
            previous = summarize(totals, "A", previous=previous, mixing_sd=args.mixing_sd, alpha=args.alpha,
                                 min_units=args.min_units)
            if (said := previous["variants"][1]["against_control"]["verdict"]) in ("better", "worse"):
                verdict, at = said, end
        if verdict is not None and peeked:
            break  # both known; the fixed-horizon test still needs the whole run
    everyone = {name: VariantTotals.from_units(*(c[arm == index] for c in counts)) for index, name in enumerate("AB")}
    return Run(verdict, at, peeked, z_says_different(everyone, args.min_units))


def true_click_rate(lift: float, draws: int = 4_000_000) -> float:
    """The share of people who click at least once: 1 − E[(1 − p)·e^(−3p)] over propensities p
    (K = 1 + Poisson(3) panels gives E[(1 − p)^K] = (1 − p)·e^(−3p)), by Monte Carlo."""
    p = np.minimum(1.0, np.random.default_rng(12345).beta(*PROPENSITY, draws) * lift)
    return float(1 - np.mean((1 - p) * np.exp(-PANELS_EXTRA * p)))


def share(hits: int, runs: int) -> str:
    low, high = wilson_interval(hits, runs)
    return f"{100 * hits / runs:.1f}% ({100 * low:.1f} to {100 * high:.1f})"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=500, help="simulated experiments per setting")
    parser.add_argument("--batch", type=int, default=200, help="people between two looks")
    parser.add_argument("--max-people", type=int, default=20_000, help="the pre-set maximum, both arms together")
    parser.add_argument("--min-units", type=int, default=100)
    parser.add_argument("--mixing-sd", type=float, default=0.05)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"{args.runs} runs per setting, a look every {args.batch} people, at most {args.max_people:,} people; "
          f"mixing sd {args.mixing_sd}, alpha {args.alpha}, min units {args.min_units}; shares in % with Wilson 95% "
          f"intervals\n")
    print("| setting | visitor click rate A → B | B better | B worse | median people at verdict | "
          "z-test once at the maximum | z-test at every look |\n|---|---|---|---|---|---|---|")
    figures = []
    for index, (name, lift) in enumerate(SETTINGS):
        began = time.perf_counter()
        runs = [one_run(np.random.default_rng([args.seed, index, run]), lift, args) for run in range(args.runs)]
        rates = true_click_rate(1.0), true_click_rate(lift)
        better, worse = (sum(r.verdict == kind for r in runs) for kind in ("better", "worse"))
        at_verdict = [r.people_at_verdict for r in runs if r.verdict is not None]
        median = int(np.median(at_verdict)) if at_verdict else None
        at_max, at_every_look = sum(r.z_test_at_max for r in runs), sum(r.z_test_at_every_look for r in runs)
        print(f"| {name} | {100 * rates[0]:.2f}% → {100 * rates[1]:.2f}% | {share(better, args.runs)} | "
              f"{share(worse, args.runs)} | {f'{median:,}' if median else '-'} | {share(at_max, args.runs)} | "
              f"{share(at_every_look, args.runs)} |", flush=True)
        figures.append({"setting": name, "lift": lift, "true_click_rates": rates, "runs": args.runs,
                        "better": better, "worse": worse, "median_people_at_verdict": median,
                        "z_test_at_max": at_max, "z_test_at_every_look": at_every_look,
                        "seconds": round(time.perf_counter() - began, 1), "each_run": [asdict(r) for r in runs]})
    same = figures[0]
    print(f"\nA/A: B declared different from A (better or worse) in {share(same['better'] + same['worse'], args.runs)} "
          f"of runs with the sequential test, {share(same['z_test_at_every_look'], args.runs)} with the z-test read at "
          f"every look")
    if args.json:
        args.json.write_text(json.dumps({"arguments": {k: str(v) for k, v in vars(args).items()},
                                         "settings": figures}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
