"""What the experiment statistics say, checked on numbers: textbook intervals, hand-computed
tests, coverage and error rates on simulated experiments with fixed seeds."""
import json
import math

import numpy as np
import pytest

from app.experiments.statistics import (
    ControlMissing,
    msprt,
    off_policy,
    ratio_interval,
    summarize,
    wilson_interval,
)
from app.experiments.totals import VariantTotals

Z = 1.959964


# --- Wilson -----------------------------------------------------------------------------------

@pytest.mark.parametrize("successes, trials, low, high", [
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3.
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_interval_matches_the_textbook(successes, trials, low, high):
    assert wilson_interval(successes, trials) == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_of_nothing_is_undefined():
    assert wilson_interval(0, 0) == (None, None)


# --- the delta-method ratio -------------------------------------------------------------------

def test_ratio_interval_is_the_binomial_interval_when_everyone_has_one_panel():
    clicks = np.array([1] * 120 + [0] * 280)  # 400 people, one panel each
    panels = np.ones_like(clicks)
    estimate, low, high = ratio_interval(400, panels.sum(), clicks.sum(), panels @ panels, clicks @ clicks,
                                         panels @ clicks)
    half = Z * math.sqrt(0.3 * 0.7 / 400)
    assert (estimate, low, high) == pytest.approx((0.3, 0.3 - half, 0.3 + half), rel=1e-12)


def test_ratio_interval_without_panels_or_with_one_person():
    assert ratio_interval(0, 0, 0, 0, 0, 0) == (None, None, None)
    assert ratio_interval(1, 4, 1, 16, 1, 4) == (0.25, None, None)  # an estimate, but no spread from one person


def clustered_people(rng, people):
    """People who differ in how much they like the panel (Beta(1, 4), mean 0.2 per panel) and
    see 1 + Poisson(5) panels each: (panels, clicks) per person."""
    panels = 1 + rng.poisson(5, people)
    clicks = rng.binomial(panels, rng.beta(1, 4, people))
    return panels, clicks


def test_ratio_interval_covers_the_true_click_rate_95_percent_of_the_time_on_clustered_data():
    rng = np.random.default_rng(7)
    true_ctr = 0.2  # clicks/panels → E[propensity], the number of panels being independent of it
    covered_delta, covered_naive = 0, 0
    replications = 1000
    for _ in range(replications):
        panels, clicks = clustered_people(rng, 2000)
        _, low, high = ratio_interval(2000, panels.sum(), clicks.sum(), panels @ panels, clicks @ clicks,
                                      panels @ clicks)
        covered_delta += low <= true_ctr <= high
        naive_low, naive_high = wilson_interval(clicks.sum(), panels.sum())  # as if panels were independent
        covered_naive += naive_low <= true_ctr <= naive_high
    # Monte Carlo standard error of a 95% coverage over 1000 replications is 0.007: ± 0.02 is ~3 of them.
    assert 0.93 <= covered_delta / replications <= 0.97
    # The data are clustered enough that ignoring it shows: treating panels as independent under-covers.
    assert covered_naive / replications < 0.90


# --- the mSPRT --------------------------------------------------------------------------------

def test_msprt_matches_a_hand_computation():
    # 300 of 1,000 people clicked on control, 350 of 1,000 on the variant; τ = 0.05, α = 0.05.
    # V = 0.3·0.7/1000 + 0.35·0.65/1000 = 0.0004375, V + τ² = 0.0029375
    # Λ = sqrt(0.0004375 / 0.0029375) · exp(0.0025 · 0.05² / (2 · 0.0004375 · 0.0029375)) = 4.39071558
    # half width = sqrt(0.0004375 · 0.0029375 / 0.0025 · (2 ln 20 + ln(0.0029375 / 0.0004375))) = 0.06370937
    test = msprt(300, 1000, 350, 1000, mixing_sd=0.05, alpha=0.05)
    assert test.difference == pytest.approx(0.05, rel=1e-12)
    assert test.likelihood_ratio == pytest.approx(4.39071558, rel=1e-8)
    assert test.p_value == pytest.approx(1 / 4.39071558, rel=1e-8)
    assert (test.low, test.high) == pytest.approx((0.05 - 0.06370937, 0.05 + 0.06370937), abs=1e-8)


def test_the_interval_excludes_zero_exactly_when_the_p_value_is_below_alpha():
    for variant_clicks in range(300, 420, 3):
        test = msprt(300, 1000, variant_clicks, 1000, alpha=0.05)
        assert (test.p_value <= 0.05) == (test.low > 0), variant_clicks
    assert msprt(300, 1000, 380, 1000).p_value < 0.05 < msprt(300, 1000, 360, 1000).p_value  # both sides met


def test_no_spread_is_no_evidence():
    nobody_clicked = msprt(0, 150, 0, 200)
    assert (nobody_clicked.difference, nobody_clicked.p_value, nobody_clicked.likelihood_ratio) == (0.0, 1.0, 1.0)
    # The interval is the difference of the Wilson bounds: variant's [0, 0.0188] minus control's [0, 0.0250].
    assert (nobody_clicked.low, nobody_clicked.high) == pytest.approx((-wilson_interval(0, 150)[1],
                                                                       wilson_interval(0, 200)[1]))
    empty_arm = msprt(10, 100, 0, 0)
    assert (empty_arm.difference, empty_arm.low, empty_arm.high, empty_arm.p_value) == (None, -1.0, 1.0, 1.0)


def monitored_experiments(rng, control_rate, variant_rate, runs, looks, batch, min_units=100):
    """Experiments looked at after every `batch` people (split 50/50 at random), each through
    `summarize` with the previous look: per run, the first verdict reached ("better", "worse"
    or None), and whether a naive z-test checked at every look would have declared a difference."""
    variant_people = rng.binomial(batch, 0.5, (runs, looks))
    assigned = np.stack([batch - variant_people, variant_people], axis=-1).cumsum(axis=1)  # (runs, looks, 2)
    clicked = rng.binomial(batch - variant_people, control_rate), rng.binomial(variant_people, variant_rate)
    clicked = np.stack(clicked, axis=-1).cumsum(axis=1)  # (runs, looks, 2)
    verdicts = []
    for run in range(runs):
        previous, verdict = None, None
        for look in range(looks):
            totals = {arm: VariantTotals(units=int(assigned[run, look, i]), clicked_units=int(clicked[run, look, i]))
                      for i, arm in enumerate("AB")}
            previous = summarize(totals, "A", previous=previous, min_units=min_units)
            if (verdict := previous["variants"][1]["against_control"]["verdict"]) in ("better", "worse"):
                break
        verdicts.append(verdict if verdict in ("better", "worse") else None)
    rates = clicked / assigned
    pooled = clicked.sum(axis=-1) / assigned.sum(axis=-1)
    z = (rates[..., 1] - rates[..., 0]) / np.sqrt(pooled * (1 - pooled) * (1 / assigned).sum(axis=-1))
    naive = ((np.abs(z) >= Z) & (assigned.min(axis=-1) >= min_units)).any(axis=1)
    return verdicts, naive


def test_an_a_a_experiment_looked_at_after_every_batch_is_declared_different_in_at_most_5_percent_of_runs():
    rng = np.random.default_rng(2024)
    runs = 500
    verdicts, naive = monitored_experiments(rng, 0.3, 0.3, runs=runs, looks=60, batch=100)
    declared = sum(v is not None for v in verdicts)
    assert declared / runs <= 0.05
    # The same peeking with a fixed-horizon z-test would be wrong far more often than 5%.
    assert naive.mean() > 0.10


def test_a_five_point_lift_in_click_rate_is_found_within_a_few_thousand_people_per_arm():
    rng = np.random.default_rng(11)
    runs = 100
    verdicts, _ = monitored_experiments(rng, 0.30, 0.35, runs=runs, looks=40, batch=200)  # 4,000 per arm at most
    assert verdicts.count("better") / runs >= 0.85
    assert verdicts.count("worse") == 0


# --- summarize --------------------------------------------------------------------------------

def people(visitors, clicked, panels_each=2):
    """`visitors` people with `panels_each` panels; the first `clicked` click once, half of those order."""
    clicks = np.array([1] * clicked + [0] * (visitors - clicked))
    orders = np.array([1, 0] * (clicked // 2) + [0] * (visitors - clicked // 2 * 2))
    return VariantTotals.from_units(np.full(visitors, panels_each), clicks, orders, clicks + 1)


EXPERIMENT = {"A": people(1200, 300), "B": people(1200, 372), "shadow": people(1200, 600)}


def test_summary_lists_every_variant_with_its_rates_in_order_and_is_json():
    summary = summarize(EXPERIMENT, "A", shadows={"shadow"})
    assert json.loads(json.dumps(summary)) == summary
    assert {key: summary[key] for key in ("control", "alpha", "mixing_sd", "min_units", "primary_metric")} == {
        "control": "A", "alpha": 0.05, "mixing_sd": 0.05, "min_units": 100, "primary_metric": "visitor_click_rate"}
    a, b, shadow = summary["variants"]
    assert [v["name"] for v in summary["variants"]] == ["A", "B", "shadow"]
    assert (a["control"], a["shadow"], b["control"], b["shadow"], shadow["shadow"]) == (True, False, False, False,
                                                                                        True)
    assert (b["units"], b["panels"], b["clicks"], b["page_clicks"], b["orders"]) == (1200, 2400, 372, 1572, 186)
    assert b["ctr"]["value"] == 0.155 and b["ctr"]["low"] < 0.155 < b["ctr"]["high"]
    assert b["hit_rate"]["value"] == pytest.approx(372 / 1572, rel=1e-5)
    assert b["orders_per_panel"]["value"] == pytest.approx(186 / 2400)
    assert b["visitor_click_rate"] == pytest.approx(dict(zip(("value", "low", "high"), (0.31,
                                                        *wilson_interval(372, 1200)))), rel=1e-5)
    assert b["visitor_order_rate"]["value"] == 0.155
    test = msprt(300, 1200, 372, 1200)
    against = dict(b["against_control"])
    assert against.pop("verdict") == "better"
    assert against == pytest.approx({"difference": 0.06, "low": test.low, "high": test.high, "p_value": test.p_value},
                                    rel=1e-5)
    assert test.p_value < 0.05


def test_the_control_and_shadows_are_never_tested():
    summary = summarize(EXPERIMENT, "A", shadows={"shadow"})
    assert [v["against_control"] is None for v in summary["variants"]] == [True, False, True]
    assert summary["verdict"] == ("B gets more visitors to click than A (+6.0 points, always-valid 95% interval "
                                  "+0.4 to +11.6); the experiment can stop")
    # The same shadow, were it tested, would be far better than A: leaving it out is a choice, not a result.
    assert summarize(EXPERIMENT, "A")["variants"][2]["against_control"]["verdict"] == "better"


def test_the_p_value_is_the_running_minimum_over_looks_and_the_interval_the_running_intersection():
    early = summarize({"A": people(600, 150), "B": people(600, 200)}, "A")
    assert early["variants"][1]["against_control"]["verdict"] == "better"
    # Later the lift shrinks and this look alone no longer says "better"; the earlier look still counts.
    later_totals = {"A": people(1200, 300), "B": people(1200, 330)}
    alone = summarize(later_totals, "A")["variants"][1]["against_control"]
    carried = summarize(later_totals, "A", previous=early)["variants"][1]["against_control"]
    assert alone["verdict"] == "no difference yet" and alone["p_value"] > 0.05
    assert carried["p_value"] == early["variants"][1]["against_control"]["p_value"] < 0.05
    assert carried["verdict"] == "better"
    assert carried["low"] == early["variants"][1]["against_control"]["low"] > 0
    assert carried["high"] == alone["high"]
    # A smaller p-value now replaces a larger one from before.
    larger_lift = {"A": people(1800, 450), "B": people(1800, 560)}
    now = summarize(larger_lift, "A", previous=summarize(later_totals, "A"))["variants"][1]["against_control"]
    assert now["p_value"] == summarize(larger_lift, "A")["variants"][1]["against_control"]["p_value"] < alone[
        "p_value"]


def test_a_previous_look_made_differently_or_too_early_is_not_carried():
    early = summarize({"A": people(600, 150), "B": people(600, 200)}, "A")
    later_totals = {"A": people(1200, 300), "B": people(1200, 330)}
    for changed in ({"mixing_sd": 0.1}, {"alpha": 0.01}):
        assert summarize(later_totals, "A", previous=early, **changed) == summarize(later_totals, "A", **changed)
    switched = summarize({"B": people(600, 200), "A": people(600, 150)}, "B")  # B was the control then
    assert summarize(later_totals, "A", previous=switched) == summarize(later_totals, "A")
    too_early = summarize({"A": people(600, 150), "B": people(600, 200)}, "A", min_units=1000)
    assert too_early["variants"][1]["against_control"]["verdict"] == "too few visitors"
    assert summarize(later_totals, "A", previous=too_early) == summarize(later_totals, "A")


def test_too_few_visitors_gives_no_verdict_however_large_the_difference():
    summary = summarize({"A": people(90, 10), "B": people(500, 400)}, "A")
    test = summary["variants"][1]["against_control"]
    assert test["verdict"] == "too few visitors" and test["p_value"] < 1e-6
    assert summary["verdict"] == ("too few visitors to judge B yet (90 visitors on A, 500 on B; 100 each needed); "
                                  "looking again later is safe")


def test_no_difference_yet_names_the_visitors():
    summary = summarize({"A": people(1204, 301), "B": people(1188, 300)}, "A")
    assert summary["verdict"] == ("no variant differs from A yet (1,204 visitors on A, 1,188 on B); "
                                  "looking again later is safe")


def test_the_sentence_names_each_variant_by_its_verdict():
    summary = summarize({"A": people(1200, 300), "B": people(1200, 372), "C": people(1190, 290),
                         "D": people(80, 20)}, "A")
    assert [v["against_control"]["verdict"] for v in summary["variants"][1:]] == [
        "better", "no difference yet", "too few visitors"]
    assert summary["verdict"] == (
        "B gets more visitors to click than A (+6.0 points, always-valid 95% interval +0.4 to +11.6); "
        "C does not differ from A yet (1,200 visitors on A, 1,190 on C); "
        "too few visitors to judge D yet (1,200 visitors on A, 80 on D; 100 each needed); looking again later is safe")
    only_shadows = summarize({"A": people(1200, 300), "B": people(1200, 372)}, "A", shadows={"B"})
    assert only_shadows["verdict"] == "nothing is tested against A: there is no other variant, or each is a shadow"


def test_a_variant_that_served_nothing_gives_nulls_not_errors():
    summary = summarize({"A": people(500, 100), "B": VariantTotals()}, "A", min_units=0)
    b = summary["variants"][1]
    for rate in ("ctr", "hit_rate", "orders_per_panel", "visitor_click_rate", "visitor_order_rate"):
        assert b[rate] == {"value": None, "low": None, "high": None}
    assert b["against_control"] == {"difference": None, "low": -1.0, "high": 1.0, "p_value": 1.0,
                                    "verdict": "no difference yet"}
    assert json.loads(json.dumps(summary)) == summary


def test_an_unknown_control_is_refused():
    with pytest.raises(ControlMissing):
        summarize(EXPERIMENT, "C")


# --- a shadow's off-policy estimate -----------------------------------------------------------

ITEMS, SLATE = 50, 5
CLICK_CHANCE = np.where(np.arange(ITEMS) < SLATE, 0.10, 0.01)  # the first five are the good ones


def shadow_behind_random_panels(rng, people=1000, panels_each=4, shadow_epsilon=0.0) -> VariantTotals:
    """Every panel shows SLATE of ITEMS uniformly at random (each with chance SLATE/ITEMS); a
    visitor clicks each shown item on its own with CLICK_CHANCE. The shadow would show the
    first SLATE items, or with probability `shadow_epsilon` a random slate of its own. Its
    totals as the fold sums them."""
    panels = people * panels_each
    chance = SLATE / ITEMS

    def random_slates(n):
        slates = np.zeros((n, ITEMS), bool)
        np.put_along_axis(slates, np.argsort(rng.random((n, ITEMS)), axis=1)[:, :SLATE], True, axis=1)
        return slates

    shown = random_slates(panels)
    clicked = shown & (rng.random((panels, ITEMS)) < CLICK_CHANCE)
    shadow = np.zeros((panels, ITEMS), bool)
    shadow[:, :SLATE] = True
    drew = rng.random(panels) < shadow_epsilon
    shadow[drew] = random_slates(int(drew.sum()))
    agreed_clicks = (clicked & shadow).sum(axis=1)  # (panels,)
    per_person = lambda per_panel: per_panel.reshape(people, panels_each).sum(axis=1)  # noqa: E731
    replay = per_person(agreed_clicks)
    totals = VariantTotals.from_units(np.full(people, panels_each), replay, np.zeros(people), replay)
    return totals.with_off_policy(np.full(people, panels_each), per_person(agreed_clicks / chance), np.zeros(people),
                                  weighted_shown=(shown & shadow).sum() / chance, shadow_shown=int(shadow.sum()))


@pytest.mark.parametrize("shadow_epsilon", [0.0, 0.2])
def test_the_off_policy_estimate_finds_what_a_shadow_would_earn_where_its_replay_cannot(shadow_epsilon):
    truth = (1 - shadow_epsilon) * CLICK_CHANCE[:SLATE].sum() + shadow_epsilon * SLATE * CLICK_CHANCE.mean()
    rng = np.random.default_rng(5)
    runs, covered = 100, 0
    for _ in range(runs):
        totals = shadow_behind_random_panels(rng, shadow_epsilon=shadow_epsilon)
        estimate = off_policy(totals)
        covered += estimate["ctr"]["low"] <= truth <= estimate["ctr"]["high"]
    assert covered / runs >= 0.9  # 95% nominal; 100 runs
    assert estimate["units"] == 1000 and estimate["panels"] == 4000
    assert estimate["weight_check"] == pytest.approx(1.0, abs=0.05)
    # The replay counts only the agreed clicks: a tenth of the truth here, whatever the shadow is worth.
    assert totals.clicks / totals.panels < truth / 5


def test_a_shadow_without_panels_served_at_random_has_no_estimate_and_shown_variants_none_at_all():
    assert off_policy(people(300, 90)) is None
    logged = shadow_behind_random_panels(np.random.default_rng(1), people=200)
    summary = summarize({"A": logged, "B": logged, "shadow": logged}, "A", shadows={"shadow"})
    assert [v["off_policy"] is not None for v in summary["variants"]] == [False, False, True]
    assert summary["variants"][2]["off_policy"] == off_policy(logged)
    assert json.loads(json.dumps(summary)) == summary
