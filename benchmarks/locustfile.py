"""Load test of POST /recommendations against a deployed stack, with locust.

Locust is not a dependency of the project; install it in any venv:

    python -m venv /tmp/locust && /tmp/locust/bin/pip install locust
    MARKETREC_TOKEN=<a recommendation or API token> \\
        /tmp/locust/bin/locust -f benchmarks/locustfile.py --host https://recommender.example.org \\
        --headless --users 50 --spawn-rate 5 --run-time 2m

Each simulated client sends the request mix of benchmarks/serving.py
(harness.RecommendationMix: logged-in users asking NCF for a v1/v2 panel, with
or without 20-200 candidates, a few rankings, anonymous visitors), one request
after another with a short pause. Requests are named by kind in locust's table,
and a 200 whose body has no `engine_version` counts as a failure.

Ids: the mix picks users and candidate services from ranges that should match
the deployed dump (candidates it does not know are simply not eligible):
MARKETREC_USER_IDS (default 1-100000), MARKETREC_SERVICE_IDS (default 1-20009,
the range make_dump(10000, ...) draws service ids from), MARKETREC_VISITORS
(default 5000 anonymous visitors). Without MARKETREC_TOKEN no Authorization
header is sent (a stack without RECOMMENDATION_TOKENS accepts that).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from locust import HttpUser, between, task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import RecommendationMix, visitor_ids  # noqa: E402


def _id_range(variable: str, default: str) -> range:
    low, _, high = os.environ.get(variable, default).partition("-")
    return range(int(low), int(high) + 1)


USERS = _id_range("MARKETREC_USER_IDS", "1-100000")
SERVICES = _id_range("MARKETREC_SERVICE_IDS", "1-20009")
VISITORS = visitor_ids(int(os.environ.get("MARKETREC_VISITORS", "5000")))


class MarketplaceBackEnd(HttpUser):
    """One marketplace front-end process asking for panels and rankings."""

    wait_time = between(0.01, 0.1)

    def on_start(self):
        # Each simulated client draws its own sequence; seeded so a run can be repeated.
        self.mix = RecommendationMix(USERS, SERVICES, VISITORS, seed=id(self) % 2**32, views_per_session=5)
        token = os.environ.get("MARKETREC_TOKEN")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    @task
    def recommend(self):
        kind, body = self.mix.payload()
        with self.client.post("/recommendations", json=body, headers=self.headers,
                              name=f"/recommendations [{kind}]", catch_response=True) as response:
            if response.status_code == 200 and "engine_version" not in (response.json() or {}):
                response.failure("200 without engine_version")
