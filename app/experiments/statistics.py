"""What an experiment's totals say: rates with 95% intervals per variant, and a test of each
variant against control that stays valid however often it is looked at.

The test is the mixture sequential probability ratio test (mSPRT) of Johari, Pekelis and
Walsh ("Always valid inference", 2017/2022) on the difference of two proportions, with the
difference's estimate taken as normal. Under the null the mixture likelihood ratio is a
martingale, so by Ville's inequality it ever reaches 1/alpha with probability at most alpha:
a p-value kept as the running minimum of 1/Λ over looks, and a confidence interval kept as
the running intersection of the mixture intervals, may be read every day (or every minute)
and acted on at any time without inflating the error rate. See docs/experiments.md.

A shadow is never tested: it was not shown, so its own clicks are unknown. Two figures stand
for it. Its replay (clicks on services it would have shown too) is a floor. Its off-policy
estimate reweights those agreed clicks by 1 / the chance the served engine had of showing
the service; on the panels whose served engine drew at random, every candidate had a chance,
and when a visitor's click on a service depends on that service being shown (not on its
neighbours or its position), E[Σ clicked, shown, shadow's / chance] = the shadow's expected
clicks per panel (item-level inverse propensity scoring). A shadow that itself draws at random
is covered by the same sum: its one logged draw is an unbiased stand-in for its chances.
`weight_check` (Σ 1/chance over agreed services / services the shadow would show) has
expectation 1; far from 1, the served engine gave the shadow's services too little chance
for the estimate to mean much.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from app.experiments.totals import VariantTotals, plain_number

Z_95 = 1.959964  # the standard normal's 97.5% quantile
PRIMARY_METRIC = "visitor_click_rate"
TOO_FEW = "too few visitors"


class ControlMissing(ValueError):
    """The named control is not among the variants' totals."""


def wilson_interval(successes: float, trials: float, z: float = Z_95) -> tuple[float | None, float | None]:
    """The Wilson score interval of a proportion; (None, None) with no trials."""
    if trials <= 0:
        return None, None
    share = successes / trials
    spread = z * z / trials
    centre = (share + spread / 2) / (1 + spread)
    half = z * math.sqrt(share * (1 - share) / trials + spread / (4 * trials)) / (1 + spread)
    return max(0.0, centre - half), min(1.0, centre + half)


def ratio_interval(n: float, sum_x: float, sum_y: float, sum_xx: float, sum_yy: float, sum_xy: float,
                   z: float = Z_95) -> tuple[float | None, float | None, float | None]:
    """(estimate, low, high) of R = Σy / Σx over n independent units (people), each with its
    own x (e.g. panels) and y (e.g. clicks), by the delta method.

    Var(R̂) ≈ Σ (y_i − R̂ x_i)² / (Σx)², with the residual sum expanded into the given sums; it
    is the binomial variance p(1 − p)/n when every unit has x = 1. One unit gives an estimate
    but no spread; no x at all gives nothing. The low end is kept at 0: counts are never negative.
    """
    if sum_x == 0:
        return None, None, None
    ratio = sum_y / sum_x
    if n < 2:
        return ratio, None, None
    residual_sq = max(0.0, sum_yy - 2 * ratio * sum_xy + ratio * ratio * sum_xx)  # rounding can dip below 0
    error = math.sqrt(residual_sq) / sum_x
    return ratio, max(0.0, ratio - z * error), ratio + z * error


@dataclass(frozen=True)
class SequentialTest:
    """One look of the mSPRT: the difference variant − control, its always-valid interval at
    this look, the mixture likelihood ratio Λ and p = min(1, 1/Λ)."""

    difference: float | None
    low: float
    high: float
    likelihood_ratio: float
    p_value: float


def msprt(control_successes: float, control_n: float, variant_successes: float, variant_n: float,
          mixing_sd: float = 0.05, alpha: float = 0.05) -> SequentialTest:
    """The mSPRT of θ = p_variant − p_control = 0, the mixture over θ being N(0, mixing_sd²).

    With θ̂ ~ N(θ, V), V = p̂c(1 − p̂c)/nc + p̂v(1 − p̂v)/nv and τ = mixing_sd,
        Λ = ∫ N(θ̂; θ, V) N(θ; 0, τ²) dθ / N(θ̂; 0, V) = sqrt(V / (V + τ²)) · exp(τ² θ̂² / (2V(V + τ²))).
    The interval is every θ0 that the same test, mixed around θ0, would not reject at alpha:
        θ̂ ± sqrt(V(V + τ²)/τ² · (2 ln(1/alpha) + ln((V + τ²)/V))),
    so it excludes 0 exactly when p ≤ alpha. With V = 0 (both arms at 0% or 100%) there is no
    evidence: p = 1 and the interval is the difference of the two Wilson intervals.
    """
    if mixing_sd <= 0 or not 0 < alpha < 1:
        raise ValueError("mixing_sd must be positive and alpha in (0, 1)")
    if control_n <= 0 or variant_n <= 0:
        return SequentialTest(None, -1.0, 1.0, 1.0, 1.0)
    control_rate, variant_rate = control_successes / control_n, variant_successes / variant_n
    difference = variant_rate - control_rate
    variance = control_rate * (1 - control_rate) / control_n + variant_rate * (1 - variant_rate) / variant_n
    if variance <= 0:
        control_low, control_high = wilson_interval(control_successes, control_n)
        variant_low, variant_high = wilson_interval(variant_successes, variant_n)
        return SequentialTest(difference, variant_low - control_high, variant_high - control_low, 1.0, 1.0)
    mixed = variance + mixing_sd ** 2
    log_ratio = 0.5 * math.log(variance / mixed) + mixing_sd ** 2 * difference ** 2 / (2 * variance * mixed)
    half = math.sqrt(variance * mixed / mixing_sd ** 2 * (2 * math.log(1 / alpha) + math.log(mixed / variance)))
    return SequentialTest(
        difference=difference,
        low=max(-1.0, difference - half),
        high=min(1.0, difference + half),
        likelihood_ratio=math.exp(log_ratio) if log_ratio < 700 else math.inf,  # exp overflows past ~709
        p_value=math.exp(-log_ratio) if log_ratio > 0 else 1.0,
    )


def summarize(totals: dict[str, VariantTotals], control: str, *, previous: dict | None = None,
              mixing_sd: float = 0.05, alpha: float = 0.05, min_units: int = 100,
              shadows: set[str] | frozenset[str] = frozenset()) -> dict:
    """The experiment's results as a JSON-able dict: per variant its counts, rates with 95%
    intervals and (unless it is the control or a shadow) its test against control on the share
    of people who clicked a panel, and one sentence saying what it means.

    `previous` is this function's output at the last look: its p-values and intervals are
    carried (running minimum, running intersection) when it had the same control, mixing_sd
    and alpha. Looks before both arms had `min_units` people are shown but not carried: the
    normal approximation is poor that early.
    """
    if control not in totals:
        raise ControlMissing(f"control {control!r} is not one of the variants {sorted(totals)}")
    earlier = _carried_tests(previous, control, mixing_sd, alpha)
    variants = []
    for name, counts in totals.items():
        tested = name != control and name not in shadows
        variants.append({
            "name": name, "control": name == control, "shadow": name in shadows and name != control,
            **{key: plain_number(getattr(counts, key)) for key in ("units", "panels", "clicks", "page_clicks",
                                                                  "orders")},
            **_rates(counts),
            "against_control": _against_control(totals[control], counts, earlier.get(name), mixing_sd, alpha,
                                                min_units) if tested else None,
            "off_policy": off_policy(counts) if name in shadows and name != control else None,
        })
    return {"control": control, "alpha": alpha, "mixing_sd": mixing_sd, "min_units": min_units,
            "primary_metric": PRIMARY_METRIC, "variants": variants,
            "verdict": _verdict_sentence(variants, control, alpha, min_units)}


def _rates(c: VariantTotals) -> dict[str, dict]:
    """Every rate of one variant, each as {"value", "low", "high"}."""
    return {
        "ctr": _interval(*ratio_interval(c.units, c.panels, c.clicks, c.panels_sq, c.clicks_sq, c.panels_clicks)),
        "hit_rate": _interval(*ratio_interval(c.units, c.page_clicks, c.clicks, c.page_clicks_sq, c.clicks_sq,
                                              c.page_clicks_clicks)),
        "orders_per_panel": _interval(*ratio_interval(c.units, c.panels, c.orders, c.panels_sq, c.orders_sq,
                                                      c.panels_orders)),
        "visitor_click_rate": _interval(c.clicked_units / c.units if c.units else None,
                                        *wilson_interval(c.clicked_units, c.units)),
        "visitor_order_rate": _interval(c.ordering_units / c.units if c.units else None,
                                        *wilson_interval(c.ordering_units, c.units)),
    }


def off_policy(c: VariantTotals) -> dict | None:
    """A shadow's inverse-propensity estimates of clicks and orders per panel, with 95% intervals
    over people, from the panels served with logged chances; None without any."""
    if c.logged_panels == 0:
        return None
    return {
        "units": c.logged_units, "panels": c.logged_panels,
        "ctr": _interval(*ratio_interval(c.logged_units, c.logged_panels, c.weighted_clicks, c.logged_panels_sq,
                                         c.weighted_clicks_sq, c.logged_panels_weighted_clicks)),
        "orders_per_panel": _interval(*ratio_interval(c.logged_units, c.logged_panels, c.weighted_orders,
                                                      c.logged_panels_sq, c.weighted_orders_sq,
                                                      c.logged_panels_weighted_orders)),
        "weight_check": _rounded(c.weighted_shown / c.shadow_shown) if c.shadow_shown else None,
    }


def _carried_tests(previous: dict | None, control: str, mixing_sd: float, alpha: float) -> dict[str, dict]:
    """The previous look's tests by variant name, when they were made the same way and counted."""
    if not previous or (previous.get("control"), previous.get("mixing_sd"), previous.get("alpha")) != (
            control, mixing_sd, alpha):
        return {}
    carried = {}
    for variant in previous.get("variants") or ():
        test = variant.get("against_control")
        if test and test.get("verdict") != TOO_FEW and None not in (test.get("p_value"), test.get("low"),
                                                                     test.get("high")):
            carried[variant["name"]] = test
    return carried


def _against_control(control: VariantTotals, variant: VariantTotals, earlier: dict | None, mixing_sd: float,
                     alpha: float, min_units: int) -> dict:
    test = msprt(control.clicked_units, control.units, variant.clicked_units, variant.units, mixing_sd, alpha)
    low, high, p_value = test.low, test.high, test.p_value
    if min(control.units, variant.units) < min_units:
        verdict = TOO_FEW
    else:
        if earlier is not None:
            p_value = min(p_value, earlier["p_value"])
            # Intersecting keeps the interval consistent with the running-minimum p-value; an empty
            # intersection (the normal approximation drifting) keeps this look's interval.
            if max(low, earlier["low"]) <= min(high, earlier["high"]):
                low, high = max(low, earlier["low"]), min(high, earlier["high"])
        verdict = _direction(test.difference, low, high) if p_value <= alpha else "no difference yet"
    return {"difference": _rounded(test.difference), "low": _rounded(low), "high": _rounded(high),
            "p_value": _rounded(p_value), "verdict": verdict}


def _direction(difference: float | None, low: float, high: float) -> str:
    """Which side of 0 the interval is on; the estimate's sign when the interval straddles 0."""
    if low > 0 or high < 0:
        return "better" if low > 0 else "worse"
    return "better" if (difference or 0) > 0 else "worse"


def _verdict_sentence(variants: list[dict], control: str, alpha: float, min_units: int) -> str:
    """One sentence for the marketplace operator."""
    tested = [v for v in variants if v["against_control"] is not None]
    if not tested:
        return f"nothing is tested against {control}: there is no other variant, or each is a shadow"
    control_units = next(v["units"] for v in variants if v["control"])
    by_verdict = {kind: [v for v in tested if v["against_control"]["verdict"] == kind]
                  for kind in ("better", "worse", "no difference yet", TOO_FEW)}
    clauses = [_decided_clause(v, control, alpha) for v in tested if v in by_verdict["better"] + by_verdict["worse"]]
    if waiting := by_verdict["no difference yet"]:
        who = "no variant differs" if len(waiting) == len(tested) else f"{_names(waiting)} does not differ"
        clauses.append(f"{who} from {control} yet ({_visitors(control, control_units, waiting)})")
    if too_few := by_verdict[TOO_FEW]:
        clauses.append(f"too few visitors to judge {_names(too_few)} yet ({_visitors(control, control_units, too_few)}"
                       f"; {min_units:,} each needed)")
    still_open = waiting or too_few
    return "; ".join(clauses) + ("; looking again later is safe" if still_open else "; the experiment can stop")


def _decided_clause(variant: dict, control: str, alpha: float) -> str:
    test = variant["against_control"]
    more = "more" if test["verdict"] == "better" else "fewer"
    return (f"{variant['name']} gets {more} visitors to click than {control} ({_points(test['difference'])} points, "
            f"always-valid {100 * (1 - alpha):g}% interval {_points(test['low'])} to {_points(test['high'])})")


def _names(variants: list[dict]) -> str:
    names = [v["name"] for v in variants]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _visitors(control: str, control_units: int, variants: list[dict]) -> str:
    others = ", ".join(f"{v['units']:,} on {v['name']}" for v in variants)
    return f"{control_units:,} visitors on {control}, {others}"


def _points(share: float | None) -> str:
    return "?" if share is None else f"{100 * share:+.1f}"


def _interval(value: float | None, low: float | None, high: float | None) -> dict[str, float | None]:
    return {"value": _rounded(value), "low": _rounded(low), "high": _rounded(high)}


def _rounded(value: float | None) -> float | None:
    """Six significant digits, as a plain float (None stays None)."""
    return None if value is None else float(f"{value:.6g}")
