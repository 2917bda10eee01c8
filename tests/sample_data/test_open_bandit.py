"""Off-policy estimates on the Open Bandit Dataset sample: the random policy's log estimates
the click rate the Bernoulli TS policy really got."""
from __future__ import annotations

from pathlib import Path

import pytest


def test_bts_click_rate_estimated_from_the_random_log_is_in_the_interval():
    from app.sample_data.open_bandit import estimate_bts_from_random
    from app.sample_data.open_bandit_files import fetch_open_bandit_sample
    destination = Path(__file__).resolve().parents[2] / "var" / "data" / "obd"
    try:
        obd = fetch_open_bandit_sample(destination)
    except Exception as error:  # no network, no pip index: nothing to check against
        pytest.skip(f"the Open Bandit Dataset sample cannot be fetched: {error}")
    check = estimate_bts_from_random(obd)
    assert check.rounds == 10_000
    assert check.ips.contains(check.observed), check
    assert check.snips.contains(check.observed), check
