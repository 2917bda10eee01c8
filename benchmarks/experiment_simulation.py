"""Experiments with known truth, through the real stack: does the report find the better
variant, and are A/A experiments (identical variants) declared different no more often than
the test allows?

    .venv/bin/python benchmarks/experiment_simulation.py [--users 8000] [--days 5]
        [--aa-pages 8] [--effect 0.3] [--rounds 1] [--threads 8] [--seed 0] [--json PATH]

Starts SecantusDB and Redis on free ports (benchmarks/harness.py), stores a synthetic
marketplace (app/sample_data/synthetic.py: services with categories and domains, users with
interests, their journeys), fits Popularity and Session, and starts the API under gunicorn
(2 workers). Then, per round, it starts through POST /experiments:
- on /services/engines, Popularity (the control) against Random: the engines differ; with a
  shadow of Popularity, whose off-policy estimate from the Random panels (each service shown
  with a logged chance) is set beside the control's measured clicks per panel and beside the
  truth (each shadow panel's chance of a click, computed from its logged services);
- on /services/more-clicks, Popularity against Popularity, where the simulated people click
  each shown service of variant b with `--effect` more chance (30%);
- on each of `--aa-pages` other pages, an A/A experiment: Popularity against Popularity.

Each simulated user has a page. Every "day" about half of them visit, seeing 1 to 3 panels
(POST /recommendations with a new visit id); a user clicks a shown service with probability
sigmoid(-6.0 + 1.1 * affinity + 0.6 * log popularity), affinity being the overlap of the
user's and the service's categories (and 0.7 x scientific domains), popularity the share of
the marketplace's stored panel clicks; a click is POSTed as the contract's user action,
and is followed by an order with probability sigmoid(-2.5 + 1.2 * affinity). The truth is
known: the chance each shown panel had of a click is computed beside it, so the true share
of people who click is known per variant. After each day, once the attribution window
(EXPERIMENT_ATTRIBUTION_SECONDS, 5 s here) has passed after the minute the day ended in
(the fold counts whole minutes), the fold runs (the beat task's
function) and every experiment's results are read with GET /experiments/<id>, as an
operator looking daily would.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app import create_app  # noqa: E402
from app.marketplace.dumps import store_dump  # noqa: E402
from app.marketplace.ingestion import ingest_snapshot  # noqa: E402
from app.marketplace.user_actions import store_user_actions  # noqa: E402
from app.pipelines.interaction_models import fit_interaction_models  # noqa: E402
from app.pipelines.served_outcomes import SLICE_SECONDS, fold_served_outcomes  # noqa: E402
from app.sample_data.synthetic import generate_marketplace  # noqa: E402
from app.storage import database  # noqa: E402
from benchmarks.harness import load_average, stack, start_api  # noqa: E402
from devstack import services  # noqa: E402

WINDOW_SECONDS = 5
ENGINES_PAGE, EFFECT_PAGE = "/services/engines", "/services/more-clicks"
SHADOW = "popularity-shadow"


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class Marketplace:
    """The simulated people's tastes: affinity to each service, and its popularity."""

    def __init__(self, dump: dict, actions: list[dict]):
        self.services = {s["id"]: s for s in dump["services"]}
        self.users = {u["id"]: u for u in dump["users"]}
        clicks = Counter(a["source"]["root"]["resource_id"] for a in actions
                         if (a["source"].get("root") or {}).get("type") == "recommendation_panel")
        total = sum(clicks.values()) or 1
        self.log_popularity = {sid: math.log((clicks.get(sid, 0) + 1) / total) for sid in self.services}
        mean = sum(self.log_popularity.values()) / len(self.log_popularity)
        self.log_popularity = {sid: value - mean for sid, value in self.log_popularity.items()}

    def affinity(self, user_id: int, service_id: int) -> float:
        user, service = self.users[user_id], self.services[service_id]
        return (len(set(user["categories"]) & set(service["categories"]))
                + 0.7 * len(set(user["scientific_domains"]) & set(service["scientific_domains"])))

    def click_chance(self, user_id: int, service_id: int) -> float:
        return sigmoid(-6.0 + 1.1 * self.affinity(user_id, service_id) + 0.6 * self.log_popularity[service_id])

    def order_chance(self, user_id: int, service_id: int) -> float:
        return sigmoid(-2.5 + 1.2 * self.affinity(user_id, service_id))


class Api:
    """One keep-alive connection per thread to the API under gunicorn."""

    def __init__(self, port: int):
        self.port = port
        self.local = threading.local()

    def call(self, method: str, path: str, body=None) -> tuple[int, object]:
        for attempt in range(3):
            connection = getattr(self.local, "connection", None)
            if connection is None:
                connection = self.local.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                data = json.dumps(body).encode() if body is not None else None
                connection.request(method, path, data, {"Content-Type": "application/json"} if data else {})
                response = connection.getresponse()
                payload = response.read()
                return response.status, json.loads(payload) if payload else None
            except (ConnectionError, http.client.HTTPException):
                connection.close()
                self.local.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def visit(api: Api, market: Marketplace, person: dict, rng: random.Random, truth: dict, errors: Counter,
          effect: float) -> None:
    """One page visit: a panel, maybe a click in it, maybe an order after it."""
    visit_id = str(uuid.uuid4())
    status, body = api.call("POST", "/recommendations", {
        "user_id": person["user_id"], "unique_id": person["unique_id"], "timestamp": now_iso(),
        "visit_id": visit_id, "page_id": person["page"], "panel_id": "v1", "search_data": {}})
    if status != 200:
        errors[f"recommendations {status}"] += 1
        return
    boost = 1 + effect if person["page"] == EFFECT_PAGE and body.get("variant") == "b" else 1
    chances = [boost * market.click_chance(person["user_id"], sid) for sid in body["recommendations"]]
    no_click = math.prod(1 - c for c in chances)
    key = (body.get("experiment"), body.get("variant"))
    truth[key].setdefault(person["unique_id"], []).append(no_click)  # the person clicks nowhere: product
    clicked = [sid for sid, chance in zip(body["recommendations"], chances) if rng.random() < chance]
    if not clicked:
        return
    service = clicked[0]
    target = str(uuid.uuid4())
    actions = [{"user_id": person["user_id"], "unique_id": person["unique_id"], "timestamp": now_iso(),
                "source": {"visit_id": visit_id, "page_id": person["page"],
                           "root": {"type": "recommendation_panel", "panel_id": "v1", "resource_type": "service",
                                    "resource_id": service}},
                "target": {"visit_id": target, "page_id": f"/services/{service}"},
                "action": {"type": "button", "text": "Details", "order": False}}]
    if rng.random() < market.order_chance(person["user_id"], service):
        actions.append({"user_id": person["user_id"], "unique_id": person["unique_id"], "timestamp": now_iso(),
                        "source": {"visit_id": target, "page_id": f"/services/{service}"},
                        "target": {"visit_id": str(uuid.uuid4()), "page_id": "/projects"},
                        "action": {"type": "button", "text": "Order", "order": True}})
    status, _ = api.call("POST", "/user_actions", actions)
    if status != 204:
        errors[f"user_actions {status}"] += 1


def start_experiments(api: Api, pages: list[str], round_number: int) -> dict[str, str]:
    """Experiment id per page."""
    started = {}
    for page in pages:
        variants = ([{"name": "popularity", "engine": "Popularity", "share": 0.5, "control": True},
                     {"name": "random", "engine": "Random", "share": 0.5},
                     {"name": SHADOW, "engine": "Popularity", "shadow": True}] if page == ENGINES_PAGE else
                    [{"name": "a", "engine": "Popularity", "share": 0.5, "control": True},
                     {"name": "b", "engine": "Popularity", "share": 0.5}])
        status, body = api.call("POST", "/experiments", {
            "name": f"round {round_number} on {page}", "scope": {"page_id": page, "panel_id": "v1"},
            "variants": variants})
        assert status == 201, body
        started[page] = body["id"]
    return started


def true_click_rates(truth: dict, experiment_id: str) -> dict[str, float]:
    """Per variant: the mean over people of their chance of clicking at least one panel."""
    rates = {}
    for (experiment, variant), people in truth.items():
        if experiment == experiment_id and people:
            rates[variant] = sum(1 - math.prod(chances) for chances in people.values()) / len(people)
    return rates


def shadow_truth(app, market: Marketplace, experiment_id: str) -> dict:
    """The shadow's true clicks per panel had it been shown, over the panels it was logged
    beside on the Random arm (those its off-policy estimate reads) and over all of them: the
    mean of each panel's chance of a click, 1 - Π(1 - chance of each service it would show)."""
    with app.app_context():
        served_at_random = {r["_id"] for r in database()["recommendations"].find(
            {"experiment": experiment_id, "variant": "random"}, {"_id": 1})}
        chances = {"random_arm": [], "all": []}
        for shadow in database()["shadow_recommendations"].find({"experiment": experiment_id},
                                                               {"unit": 1, "service_ids": 1, "recommendation_id": 1}):
            user_id = int(shadow["unit"].removeprefix("user:"))
            chance = 1 - math.prod(1 - market.click_chance(user_id, sid) for sid in shadow["service_ids"])
            chances["all"].append(chance)
            if shadow["recommendation_id"] in served_at_random:
                chances["random_arm"].append(chance)
    return {name: (sum(values) / len(values) if values else None) for name, values in chances.items()}


def run_round(api, app, market, people, args, round_number, rng) -> dict:
    aa_pages = [f"/services/aa-{n}" for n in range(args.aa_pages)]
    experiments = start_experiments(api, [ENGINES_PAGE, EFFECT_PAGE, *aa_pages], round_number)
    for person in people:
        draw = rng.random()
        person["page"] = (ENGINES_PAGE if draw < args.engines_share else
                          EFFECT_PAGE if draw < args.engines_share + args.effect_share else rng.choice(aa_pages))
    truth, errors = defaultdict(dict), Counter()
    looks = defaultdict(list)
    time.sleep(1.5)  # the API processes poll the experiments' stamp once a second
    for day in range(args.days):
        visits = [(person, random.Random(rng.random())) for person in people if rng.random() < 0.5
                  for _ in range(rng.randint(1, 3))]
        rng.shuffle(visits)
        began = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(lambda job: visit(api, market, job[0], job[1], truth, errors, args.effect), visits))
        elapsed = time.perf_counter() - began
        # The fold counts a minute's panels once that minute and the attribution window have passed.
        time.sleep(SLICE_SECONDS - time.time() % SLICE_SECONDS + WINDOW_SECONDS + 1)
        with app.app_context():
            fold_served_outcomes()
        for page, experiment_id in experiments.items():
            status, body = api.call("GET", f"/experiments/{experiment_id}")
            looks[page].append(body["results"])
        print(f"round {round_number} day {day + 1}: {len(visits)} visits in {elapsed:.0f} s "
              f"({len(visits) / elapsed:.0f} panels/s), load {load_average()}, errors {dict(errors)}", flush=True)
    for experiment_id in experiments.values():
        api.call("POST", f"/experiments/{experiment_id}/stop")
    return {"experiments": experiments, "looks": looks, "truth": truth, "errors": dict(errors),
            "shadow_truth": shadow_truth(app, market, experiments[ENGINES_PAGE])}


def judged(results: dict | None, variant: str) -> dict:
    row = next(r for r in (results or {}).get("variants", []) if r["name"] == variant)
    return row.get("against_control") or {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=8000)
    parser.add_argument("--services", type=int, default=300)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--aa-pages", type=int, default=8)
    parser.add_argument("--effect", type=float, default=0.3, help="how much more b's people click on the "
                                                                   "more-clicks page (0.3: 30%% more)")
    parser.add_argument("--engines-share", type=float, default=0.15, help="share of people on /services/engines")
    parser.add_argument("--effect-share", type=float, default=0.35, help="share of people on the more-clicks page")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with stack("marketrec-experiments-") as (settings, procs, workdir):
        app = create_app({**settings, "EXPERIMENT_ATTRIBUTION_SECONDS": WINDOW_SECONDS})
        settings = {**settings, "EXPERIMENT_ATTRIBUTION_SECONDS": str(WINDOW_SECONDS)}  # the API's environment
        data = generate_marketplace(services=args.services, users=args.users, projects=args.users // 2,
                                    journeys=args.users * 3, seed=args.seed)
        with app.app_context():
            ingest_snapshot(store_dump(data.dump, source="simulation").id)
            for start in range(0, len(data.user_actions), 2000):
                store_user_actions(data.user_actions[start:start + 2000])
            fit_interaction_models()
        port = services.free_port()
        api_proc = start_api(settings, port, workers=2, log_path=workdir / "api.log")
        try:
            api = Api(port)
            market = Marketplace(data.dump, data.user_actions)
            people = [{"user_id": u["id"], "unique_id": str(uuid.UUID(int=rng.getrandbits(128), version=4))}
                      for u in data.dump["users"]]
            rounds = [run_round(api, app, market, people, args, n + 1, rng) for n in range(args.rounds)]
        finally:
            services.stop(api_proc)
    report(rounds, args)


def print_shadow(rows: dict, truth: dict) -> None:
    """The shadow's off-policy estimate beside the truth and the control it copies."""
    shadow, control = rows[SHADOW], rows["popularity"]
    estimate = shadow.get("off_policy") or {}
    ctr = estimate.get("ctr") or {}

    def figure(value):
        return "-" if value is None else f"{value:.4f}"

    print(f"  shadow {SHADOW}: off-policy clicks per panel {figure(ctr.get('value'))} "
          f"[{figure(ctr.get('low'))}, {figure(ctr.get('high'))}] from {estimate.get('panels', 0)} Random panels "
          f"(weight check {figure(estimate.get('weight_check'))}); true {figure(truth['random_arm'])} on those "
          f"panels, {figure(truth['all'])} on all its panels; replay {figure(shadow['ctr']['value'])}; "
          f"the control (the same engine, shown) measured {figure(control['ctr']['value'])} "
          f"[{figure(control['ctr']['low'])}, {figure(control['ctr']['high'])}]")


def report(rounds: list[dict], args) -> None:
    known, aa = defaultdict(list), []
    for played in rounds:
        for page, experiment_id in played["experiments"].items():
            looks = played["looks"][page]
            truth = true_click_rates(played["truth"], experiment_id)
            tested = "random" if page == ENGINES_PAGE else "b"
            verdicts = [judged(look, tested).get("verdict") for look in looks]
            if page in (ENGINES_PAGE, EFFECT_PAGE):
                known[page].append({"true_rates": truth, "verdicts": verdicts, "final": looks[-1],
                                    **({"shadow_truth": played["shadow_truth"]} if page == ENGINES_PAGE else {})})
            else:
                aa.append({"declared": any(v in ("better", "worse") for v in verdicts), "verdicts": verdicts,
                           "p_value": judged(looks[-1], "b").get("p_value"),
                           "units": [r["units"] for r in looks[-1]["variants"]], "true_rates": truth})
    for page, title in ((ENGINES_PAGE, "Popularity (control) against Random"),
                        (EFFECT_PAGE, f"Popularity against Popularity, b's people click {args.effect:.0%} more")):
        print(f"\n{page}: {title}")
        for run in known[page]:
            rows = {r["name"]: r for r in run["final"]["variants"]}
            print("  true share of people who click: " + ", ".join(
                f"{name} {rate:.3f}" for name, rate in sorted(run["true_rates"].items())))
            print("  measured: " + ", ".join(f"{name} {rows[name]['visitor_click_rate']['value']:.3f} "
                                             f"({rows[name]['units']} people)" for name in rows))
            print(f"  verdict at each daily look: {run['verdicts']}")
            print(f"  {run['final']['verdict']}")
            if "shadow_truth" in run:
                print_shadow(rows, run["shadow_truth"])
    declared = sum(run["declared"] for run in aa)
    units = sorted(u for run in aa for u in run["units"])
    print(f"\nA/A (Popularity against Popularity): {declared} of {len(aa)} declared different at some daily look; "
          f"{units[0] if units else 0} to {units[-1] if units else 0} people per arm")
    if args.json:
        args.json.write_text(json.dumps({"known_truth": known, "aa": aa, "args": vars(args)}, default=str, indent=2))


if __name__ == "__main__":
    main()
