"""What `diversity` and `rotation` give and cost: the figures issue 18 asks for.

    .venv/bin/python benchmarks/panel_shaping.py offline [--data var/data/ml-100k] [--ncf default|single|none]
        [--synthetic-services 1000] [--synthetic-users 1000] [--synthetic-journeys 40000]
        [--plot docs/images/panel-shaping-diversity.png]
    .venv/bin/python benchmarks/panel_shaping.py stack [--visitors 50] [--visits 10]
        [--served-records 1000000] [--insert-minutes 10] [--heavy 50] [--heavy-panels 300] [--seconds 60]

`offline`: the diversity trade-off, engines called through their pure interface. MovieLens
100K goes through the marketplace converter as in benchmarks/quality.py (ratings of 4+ are
taken services, genres the categories, one provider); each user's latest one is held out
(app/training/evaluation.leave_last_out). Popularity and Session are fitted on the training
part as the refit fits them (every taking an order, spaced ACCESS_SPACING_SECONDS apart and
ending together), NCF with the training code on the same split. For every test user the engine
is asked for pool_size(10) candidates (every recommendable service minus the user's training
ones) and the pool re-ranked by `rerank(10, ...)` at each diversity, the facets being those the
service uses (categories and providers). Per row: HR@10 (the held-out service in the panel),
intra-list diversity (distinct categories in the panel / category memberships of its services,
1 when no category repeats; mean over panels), catalogue coverage (share of recommendable
services in anyone's panel). MovieLens has one provider, so the providers' exposure is measured
on a synthetic marketplace (app/sample_data/synthetic.py, same protocol): the share of panel
slots taken by the top 10% of providers (by slots) and the Gini of slots over every provider.
The trade-off is plotted to `--plot`.

`stack`: SecantusDB (2 GB cache, as benchmarks/serving.py starts it), Redis and the API
under gunicorn (benchmarks/harness.py: 2 gevent workers), a synthetic marketplace stored and
ingested, its user actions stored, Popularity and Session fitted.

Rotation: `--visitors` logged-in users and as many anonymous visitors each ask for a v1 panel
`--visits` times (a fresh visit id each time, no click, no engine named), at rotation 0, 0.5
and 1 (other people for each value, so that no value reads another's showings); the figure is
the distinct services each was shown. Visits go in rounds over everybody, so each panel is in
the served log before that person's next request.

Cost: `--served-records` served records shaped like app.recommendation_log.served_record are
inserted (batches of 250: SecantusDB stalls on big insert_many), spread over users and
visitors and the last 7 days, `--heavy-panels` for each of `--heavy` users and as many
visitors; the insertion stops after `--insert-minutes`. Then the showings query's explain()
(executionStats), and the same requests with and without rotation 0.5, paired in a random
order, one connection, for `--seconds`, after one warm-up request per person (a person's first
request reads their history into the Redis copy). `--served-records 0` runs the rotation part
only.

OMP_NUM_THREADS=1 everywhere (set here before numpy loads; the API workers get it from the
harness); the load average is printed beside the figures.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/torch load: see STYLE.md, torch threads

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app.engines import (  # noqa: E402
    Interactions,
    Popularity,
    Random,
    RecommendationContext,
    ServiceCategories,
    Session,
    encode_types,
    fit_popularity,
    fit_session,
)
from app.engines.reranking import Shaping, pool_size, rerank  # noqa: E402
from app.training.dataset import InteractionData, interaction_data_from_dump  # noqa: E402
from app.training.evaluation import Split, catalogue_coverage, leave_last_out  # noqa: E402
from benchmarks import harness  # noqa: E402

K = 10
DIVERSITIES = (0.0, 0.3, 0.6, 1.0)
ACCESS_SPACING_SECONDS = 3600.0  # as app/pipelines/interaction_models.py spaces a dump's takings
FEATURE_FACETS = ("categories", "scientific_domains")  # what the service passes as user_features
TOP_PROVIDER_SHARE = 0.1


# ---------------------------------------------------------------- offline: the data


@dataclass
class Marketplace:
    """A dump's interactions as training arrays, with each service's facets and each user's features."""

    name: str
    data: InteractionData
    categories: dict[int, tuple[int, ...]]  # service id → categories
    providers: dict[int, tuple[int, ...]]  # service id → providers
    user_features: dict[int, dict[str, tuple[int, ...]]]  # user id → FEATURE_FACETS


def marketplace_of(name: str, dump: dict) -> Marketplace:
    services = dump["services"]
    return Marketplace(
        name=name, data=interaction_data_from_dump(dump),
        categories={int(s["id"]): tuple(s.get("categories") or ()) for s in services},
        providers={int(s["id"]): tuple(s.get("providers") or ()) for s in services},
        user_features={int(u["id"]): {f: tuple(u[f]) for f in FEATURE_FACETS if u.get(f)} for u in dump["users"]},
    )


def movielens(directory: Path) -> Marketplace:
    from app.sample_data.movielens import convert_movielens
    from app.sample_data.movielens_files import fetch_movielens

    return marketplace_of("MovieLens 100K", convert_movielens(fetch_movielens(directory)).dump)


def synthetic(services: int, users: int, journeys: int) -> Marketplace:
    from app.sample_data.synthetic import generate_marketplace

    dump = generate_marketplace(services=services, users=users, projects=0, journeys=journeys, seed=0).dump
    return marketplace_of(f"synthetic ({services} services, {users} users, {journeys} journeys)", dump)


def takings(market: Marketplace, split: Split) -> dict[str, np.ndarray]:
    """The training part as the refit sees a dump's takings: (keys, service_ids, types, timestamps),
    each user's takings an hour apart, every user's latest at the same moment."""
    data = market.data
    users, items, order = split.train_users, split.train_items, split.train_order
    last = np.zeros(data.n_users)
    np.maximum.at(last, users, order)
    return {"keys": np.array([f"user:{u}" for u in data.users.ids[users]], dtype=object),
            "service_ids": data.services.ids[items], "types": encode_types(["order"] * users.size),
            "timestamps": (order - last[users] - 1) * ACCESS_SPACING_SECONDS}


# ---------------------------------------------------------------- offline: the engines


def fitted_engines(market: Marketplace, split: Split, ncf: str) -> dict:
    """Engine name → (engine, fit seconds): Popularity, Session, NCF unless `ncf` is none, Random."""
    arrays = takings(market, split)
    categories = ServiceCategories.from_mapping({s: market.categories[s] for s in market.data.services.ids.tolist()})
    fits = {
        "Popularity": lambda: Popularity(fit_popularity(arrays["service_ids"], arrays["types"], arrays["timestamps"],
                                                        categories=categories)),
        "Session": lambda: Session(fit_session(arrays["keys"], arrays["service_ids"], arrays["types"],
                                               arrays["timestamps"])),
    }
    if ncf != "none":
        fits["NCF"] = lambda: trained_ncf(market.data, members=1 if ncf == "single" else None)
    engines = {}
    for name, fit in fits.items():
        started = time.perf_counter()
        engines[name] = (fit(), time.perf_counter() - started)
        print(f"  {name} fitted in {engines[name][1]:.1f} s", flush=True)
    engines["Random"] = (Random(), 0.0)
    return engines


def trained_ncf(data: InteractionData, members: int | None):
    """NCF trained by the training code on the training part of the same split (refit_on_all off);
    `members` None keeps the served default (five members distilled into one)."""
    import torch

    from app.engines import NCF
    from app.training.ncf_network import NCFConfig
    from app.training.ncf_training import NCFTrainingConfig, train_ncf

    torch.set_num_threads(1)
    config = NCFConfig() if members is None else NCFConfig(members=members, distill=False)
    return NCF(train_ncf(data, NCFTrainingConfig(ncf=config, refit_on_all=False)).model)


def contexts(market: Marketplace, split: Split):
    """(test user id, held-out service id, context) per test user: the user's training takings
    as history (orders, oldest first) and as `taken`, every recommendable service they did not
    take as a candidate, asking for a pool."""
    data = market.data
    recommendable = data.services.ids[data.recommendable]
    arrays = takings(market, split)
    by_user = np.argsort(split.train_users, kind="stable")
    starts = np.searchsorted(split.train_users[by_user], np.arange(data.n_users + 1))
    for user_row, item_row in zip(split.test_users.tolist(), split.test_items.tolist()):
        mine = by_user[starts[user_row]:starts[user_row + 1]]
        mine = mine[np.argsort(split.train_order[mine], kind="stable")]
        taken = data.services.ids[split.train_items[mine]]
        user_id = int(data.users.ids[user_row])
        history = Interactions(taken, arrays["types"][mine], arrays["timestamps"][mine])
        context = RecommendationContext(
            candidates=np.setdiff1d(recommendable, taken), k=pool_size(K), now=0.0, user_id=user_id,
            history=history, taken=taken, user_features=market.user_features.get(user_id, {}), seed=user_row)
        yield user_id, int(data.services.ids[item_row]), context


# ---------------------------------------------------------------- offline: the measures


@dataclass
class Row:
    """One engine at one shaping over every test user."""

    engine: str
    shaping: Shaping
    hits: int = 0
    panels: int = 0
    short_pools: int = 0  # pools smaller than the panel: the engine had fewer candidates to give
    diversity_sum: float = 0.0
    recommended: list[int] = field(default_factory=list)  # every panel's service ids
    provider_slots: dict[int, int] = field(default_factory=dict)  # provider → panel slots taken

    @property
    def label(self) -> str:
        cap = f", max_per_provider {self.shaping.max_per_provider}" if self.shaping.max_per_provider else ""
        return f"{self.engine}, diversity {self.shaping.diversity:g}{cap}"


def intra_list_diversity(panel: list[int], categories: dict[int, tuple[int, ...]]) -> float:
    """Distinct categories in the panel / category memberships of its services (1: none repeats);
    a panel without any category counts as 1."""
    memberships = [c for service in panel for c in categories.get(service, ())]
    return len(set(memberships)) / len(memberships) if memberships else 1.0


def add_panel(row: Row, panel: list[int], held_out: int, market: Marketplace) -> None:
    row.panels += 1
    row.hits += held_out in panel
    row.diversity_sum += intra_list_diversity(panel, market.categories)
    row.recommended.extend(panel)
    for service in panel:
        for provider in market.providers.get(service, ()):
            row.provider_slots[provider] = row.provider_slots.get(provider, 0) + 1


def top_share(slots: np.ndarray, share: float) -> float:
    """Share of every slot taken by the top `share` of providers (at least one provider)."""
    ordered = np.sort(slots)[::-1]
    return float(ordered[:max(1, int(np.ceil(share * ordered.size)))].sum() / max(ordered.sum(), 1))


def gini(slots: np.ndarray) -> float:
    """Gini coefficient of exposure over providers: 0 every provider alike, near 1 one takes all."""
    ordered = np.sort(slots.astype(np.float64))
    n, total = ordered.size, ordered.sum()
    if n == 0 or total == 0:
        return 0.0
    return float((2 * np.arange(1, n + 1) - n - 1) @ ordered / (n * total))


def measure(market: Marketplace, split: Split, engines: dict, shapings: dict[str, list[Shaping]]) -> list[Row]:
    """Every engine's pool for every test user, re-ranked at each of its shapings."""
    rows = {(name, s): Row(name, s) for name in engines for s in shapings[name]}
    for _, held_out, context in contexts(market, split):
        for name, (engine, _) in engines.items():
            pool = engine.recommend(context).ids.tolist()
            for shaping in shapings[name]:
                places = rerank(K, [market.categories.get(s, ()) for s in pool],
                                [market.providers.get(s, ()) for s in pool], shaping)
                row = rows[name, shaping]
                row.short_pools += len(pool) < K
                add_panel(row, [pool[p] for p in places], held_out, market)
    return list(rows.values())


def summary(row: Row, market: Marketplace) -> dict[str, float]:
    n_recommendable = int(market.data.recommendable.sum())
    provider_ids = sorted({p for ps in market.providers.values() for p in ps})
    slots = np.array([row.provider_slots.get(p, 0) for p in provider_ids])
    return {"hr@10": row.hits / max(row.panels, 1), "ild": row.diversity_sum / max(row.panels, 1),
            "coverage": catalogue_coverage(np.array(row.recommended, dtype=np.int64), n_recommendable),
            "top10%": top_share(slots, TOP_PROVIDER_SHARE), "gini": gini(slots)}


def print_rows(market: Marketplace, rows: list[Row]) -> dict[str, dict[str, float]]:
    exposure = len({p for ps in market.providers.values() for p in ps}) > 1
    columns = ("hr@10", "ild", "coverage", *(("top10%", "gini") if exposure else ()))
    header = f"| {'engine, shaping':<44} | " + " | ".join(f"{c:>8}" for c in columns) + " | short pools |"
    print(header)
    print("|" + "|".join("-" * len(cell) for cell in header.split("|")[1:-1]) + "|")
    figures = {}
    for row in rows:
        figures[row.label] = summary(row, market)
        cells = " | ".join(f"{figures[row.label][c]:>8.3f}" for c in columns)
        print(f"| {row.label:<44} | {cells} | {row.short_pools:>11} |")
    return figures


def offline_market(market: Marketplace, ncf: str, caps: bool) -> dict[str, dict[str, float]]:
    data = market.data
    split = leave_last_out(data.user_rows, data.service_rows, data.order)
    providers = len({p for ps in market.providers.values() for p in ps})
    print(f"\n{market.name}: {data.n_users} users, {data.n_services} services "
          f"({int(data.recommendable.sum())} recommendable), {providers} providers, "
          f"{data.user_rows.size} takings; {split.test_users.size} test users; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    engines = fitted_engines(market, split, ncf)
    shapings = {name: [Shaping(diversity=d) for d in DIVERSITIES] for name in engines}
    shapings["Random"] = [Shaping()]  # a floor: random panels need no variety added
    if caps:
        for name in engines:
            if name != "Random":
                shapings[name].append(Shaping(max_per_provider=1))
    started = time.perf_counter()
    rows = measure(market, split, engines, shapings)
    print(f"  pools of {pool_size(K)} re-ranked for {split.test_users.size} users in "
          f"{time.perf_counter() - started:.1f} s; load average {os.getloadavg()[0]:.2f}\n", flush=True)
    return print_rows(market, rows)


def plot(figures: dict[str, dict[str, dict[str, float]]], path: Path) -> None:
    """HR@10 against intra-list diversity, one line per engine over the diversities, one panel per data set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(figures), figsize=(5 * len(figures), 3.6))
    for axis, (name, rows) in zip(np.atleast_1d(axes), figures.items()):
        engines = sorted({label.split(",")[0] for label in rows} - {"Random"})
        for engine in engines:
            points = [rows[f"{engine}, diversity {d:g}"] for d in DIVERSITIES]
            axis.plot([p["ild"] for p in points], [p["hr@10"] for p in points], marker="o", label=engine)
            for d, p in zip(DIVERSITIES, points):
                axis.annotate(f"{d:g}", (p["ild"], p["hr@10"]), fontsize=7, xytext=(3, 3),
                              textcoords="offset points")
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("intra-list diversity (distinct categories / memberships)")
        axis.set_ylabel("HR@10")
        axis.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    print(f"\nplot: {path} ({path.stat().st_size / 1024:.0f} KB)")


def offline(args) -> None:
    print(f"offline diversity trade-off; OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, torch 1 thread; "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    figures = {"MovieLens 100K": offline_market(movielens(args.data), args.ncf, caps=False)}
    market = synthetic(args.synthetic_services, args.synthetic_users, args.synthetic_journeys)
    figures["synthetic marketplace"] = offline_market(market, args.ncf, caps=True)
    plot(figures, args.plot)


# ---------------------------------------------------------------- stack: rotation and its cost


ROTATIONS = (0.0, 0.5, 1.0)
RECORD_BATCH = 250  # SecantusDB stalls on big insert_many
WEEK_SECONDS = 7 * 86_400
ROUND_SECONDS = 0.2  # the served log is written in the background within milliseconds


def wire_time(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def panel_request(person: tuple[int | None, str], **shaping) -> dict:
    """A v1 panel on the services page for (user id or None, unique_id), a fresh visit, the default engine."""
    user_id, unique_id = person
    body = {"unique_id": unique_id, "timestamp": wire_time(datetime.now(timezone.utc)), "visit_id": str(uuid.uuid4()),
            "page_id": "/services", "panel_id": "v1", "client_id": "marketplace", "search_data": {}, **shaping}
    if user_id is not None:
        body["user_id"] = user_id
    return body


def seed_stack(services: int, users: int, journeys: int) -> dict:
    """The synthetic marketplace stored and ingested, its user actions and events stored,
    Popularity and Session fitted; returns the dump."""
    from app.marketplace import recent_history
    from app.marketplace.dumps import store_dump
    from app.marketplace.events import store_events
    from app.marketplace.ingestion import ingest_snapshot
    from app.marketplace.user_actions import store_user_actions
    from app.pipelines.interaction_models import fit_interaction_models
    from app.sample_data.synthetic import generate_marketplace

    started = time.perf_counter()
    market = generate_marketplace(services=services, users=users, projects=0, journeys=journeys, seed=0)
    snapshot = store_dump(market.dump)
    ingest_snapshot(snapshot.id)
    for start in range(0, len(market.user_actions), 2000):
        store_user_actions(market.user_actions[start:start + 2000])
    store_events(market.events)
    fitted = fit_interaction_models(snapshot.id)
    recent_history.forget_all()  # a Redis named by REDIS_URL may hold an older run's copies
    print(f"synthetic marketplace stored: {services} services, {users} users, {len(market.user_actions)} user actions, "
          f"{len(market.events)} events; Popularity and Session fitted on {fitted['interactions']} interactions "
          f"({time.perf_counter() - started:.0f} s)", flush=True)
    return market.dump


class Client:
    """POST /recommendations on one keep-alive connection; (seconds, body) per call."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def ask(self, body: dict) -> tuple[float, dict]:
        started = time.perf_counter()
        self.connection.request("POST", "/recommendations", json.dumps(body), {"Content-Type": "application/json"})
        response = self.connection.getresponse()
        answer = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {answer}")
        return time.perf_counter() - started, answer


def rotation_run(client: Client, people: dict[float, list[tuple[int | None, str]]], visits: int) -> None:
    """Each person asks for a panel `visits` times without clicking, at their rotation; visits go in
    rounds over everybody, at least ROUND_SECONDS apart, so each panel is in the log before the next."""
    shown = {(rotation, person): set() for rotation, group in people.items() for person in group}
    engines, latencies = Counter(), {rotation: [] for rotation in people}
    for _ in range(visits):
        round_started = time.monotonic()
        for rotation, group in people.items():
            for person in group:
                seconds, answer = client.ask(panel_request(person, rotation=rotation))
                shown[rotation, person].update(answer["recommendations"])
                engines[answer["engine_version"]] += 1
                latencies[rotation].append(seconds)
        time.sleep(max(0.0, ROUND_SECONDS - (time.monotonic() - round_started)))
    print(f"\nrotation: {visits} visits per person, no click; engines that served: {dict(engines)}; "
          f"load average {harness.load_average()}")
    print("| rotation | who | people | distinct services shown, mean | min | max | p50 ms |")
    print("|---|---|---|---|---|---|---|")
    for rotation, group in people.items():
        for who, logged_in in (("logged-in", True), ("anonymous", False)):
            counts = [len(shown[rotation, p]) for p in group if (p[0] is not None) == logged_in]
            print(f"| {rotation:g} | {who} | {len(counts)} | {np.mean(counts):.1f} | {min(counts)} | {max(counts)} | "
                  f"{1000 * harness.median(latencies[rotation]):.1f} |")


def rotation_people(dump: dict, per_group: int) -> dict[float, list[tuple[int | None, str]]]:
    """Different people for each rotation, so that one's showings never reach another's panels:
    `per_group` logged-in users (each with a browser id) and as many anonymous visitors."""
    users = [u["id"] for u in dump["users"]]
    visitors = harness.visitor_ids(2 * per_group * len(ROTATIONS), seed=7)
    return {rotation: [(users[n * per_group + i], visitors[2 * (n * per_group + i)]) for i in range(per_group)]
            + [(None, visitors[2 * (n * per_group + i) + 1]) for i in range(per_group)]
            for n, rotation in enumerate(ROTATIONS)}


@dataclass
class ServedLog:
    """Who the synthetic served records belong to: heavy people with `heavy_panels` each, the rest
    spread over many users and visitors."""

    heavy_users: list[int]
    heavy_visitors: list[str]
    light_users: list[int]  # users of the dump with a few panels each
    light_visitors: list[str]


def served_log_people(dump: dict, taken: int, heavy: int, spread_visitors: int) -> ServedLog:
    """The people of the served log, among the dump's users after the `taken` first (the rotation run's)."""
    users = [u["id"] for u in dump["users"]]
    visitors = harness.visitor_ids(heavy + spread_visitors, seed=11)
    return ServedLog(heavy_users=users[taken:taken + heavy], heavy_visitors=visitors[:heavy],
                     light_users=users[taken + heavy:], light_visitors=visitors[heavy:])


def served_records(people: ServedLog, services: list[int], count: int, heavy_panels: int, spread_users: int,
                   seed: int = 0):
    """Batches of served records (app.recommendation_log.served_record's shape) of the last 7 days:
    `heavy_panels` for each heavy person first, then the rest half users (ids up to
    `spread_users`, the dump's light users among them), half visitors."""
    from app.recommendation_log import served_record

    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    heavy = [(u, harness.random_uuid(rng)) for u in people.heavy_users] + [(None, v) for v in people.heavy_visitors]
    batch = []
    for number in range(count):
        if number < heavy_panels * len(heavy):
            person = heavy[number % len(heavy)]
        elif rng.random() < 0.5:
            person = (rng.randint(1, spread_users), harness.random_uuid(rng))
        else:
            person = (None, rng.choice(people.light_visitors))
        body = panel_request(person)
        shown = rng.sample(services, 3)
        record = served_record(str(uuid.UUID(int=rng.getrandbits(128), version=4)), body, shown,
                               sorted((rng.random() for _ in shown), reverse=True), "Popularity", "0" * 24)
        record["created_at"] = now - timedelta(seconds=rng.uniform(0, WEEK_SECONDS))
        batch.append(record)
        if len(batch) == RECORD_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def insert_served_log(mongodb_uri: str, batches, minutes: float) -> int:
    """Insert until the batches run out or `minutes` pass; prints the rate; returns the count."""
    import pymongo

    collection = pymongo.MongoClient(mongodb_uri).get_default_database()["recommendations"]
    started, inserted, stop_at = time.perf_counter(), 0, time.monotonic() + 60 * minutes
    for batch in batches:
        collection.insert_many(batch, ordered=False)
        inserted += len(batch)
        if inserted % 100_000 < RECORD_BATCH:
            print(f"  {inserted:,} served records, {inserted / (time.perf_counter() - started):.0f}/s, "
                  f"load average {harness.load_average()}", flush=True)
        if time.monotonic() > stop_at:
            break
    seconds = time.perf_counter() - started
    print(f"served log: {inserted:,} records inserted in {seconds:.0f} s ({inserted / seconds:.0f}/s, batches of "
          f"{RECORD_BATCH}); the collection holds {collection.estimated_document_count():,}", flush=True)
    return inserted


def explain_showings(people: ServedLog) -> None:
    """The showings reads' winning plans, one per widening step, for a heavy user and a heavy
    visitor (as the API sends them)."""
    from app.recommendations.showings import SHOWINGS_READ, showings_windows
    from app.storage import database

    now = datetime.now(timezone.utc)
    for user_id, unique_id in ((people.heavy_users[0], None), (None, people.heavy_visitors[0])):
        person = {"user_id": user_id} if user_id is not None else {"unique_id": unique_id}
        for since, until in showings_windows(now):
            query = {**person, "created_at": {"$gte": since, "$lt": until}}
            command = {"find": "recommendations", "filter": query, "projection": {"service_ids": 1, "created_at": 1},
                       "sort": {"created_at": -1}, "limit": SHOWINGS_READ}
            explained = database().command({"explain": command, "verbosity": "executionStats"})
            plan = explained.get("queryPlanner", {}).get("winningPlan", {})
            stats = explained.get("executionStats", {})
            print(f"\nexplain of a showings read for {'a user' if user_id else 'a visitor'}, "
                  f"{(now - since).total_seconds():.0f} s back: winning plan {json.dumps(plan, default=str)}")
            if stats:
                print(f"  returned {stats.get('nReturned')}, keys examined {stats.get('totalKeysExamined')}, "
                      f"documents examined {stats.get('totalDocsExamined')}, {stats.get('executionTimeMillis')} ms")


class PairedRequests:
    """The same panel request without rotation and with rotation 0.5 (a fresh visit id each), in
    a random order within the pair, for heavy and light users and visitors in turn: the run_load
    callable of the cost phase."""

    def __init__(self, people: ServedLog, seed: int = 3):
        rng = random.Random(seed)
        self.kinds = {"heavy user": [(u, harness.random_uuid(rng)) for u in people.heavy_users],
                      "heavy visitor": [(None, v) for v in people.heavy_visitors],
                      "light user": [(u, harness.random_uuid(rng)) for u in people.light_users],
                      "light visitor": [(None, v) for v in people.light_visitors[:len(people.heavy_visitors)]]}
        self.rng, self.pairs, self.pending = rng, 0, []

    def everybody(self) -> list[dict]:
        """One request per person, without rotation: a warm-up, so that no timed request is the
        first to read its person's history into the Redis copy."""
        return [panel_request(person) for group in self.kinds.values() for person in group]

    def __call__(self) -> harness.Request:
        if not self.pending:
            kind = list(self.kinds)[self.pairs % len(self.kinds)]
            person = self.rng.choice(self.kinds[kind])
            self.pairs += 1
            arms = [("no rotation", {}), ("rotation 0.5", {"rotation": 0.5})]
            self.rng.shuffle(arms)
            self.pending = [("/recommendations", json.dumps(panel_request(person, **shaping)).encode(), (arm, kind))
                            for arm, shaping in arms]
        return self.pending.pop()


def cost_run(port: int, people: ServedLog, seconds: float) -> None:
    requests, client = PairedRequests(people), Client(port)
    for body in requests.everybody():
        client.ask(body)
    load = harness.load_average()
    results, elapsed = harness.run_load("127.0.0.1", port, requests, 1, seconds)
    errors = sum(1 for _, status, _, _ in results if status != 200)
    print(f"\nrotation's cost: {len(results)} requests in {elapsed:.0f} s on one connection, {errors} not 200; "
          f"load average before {load}, after {harness.load_average()}")
    print("| requests | who | n | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for arm in ("no rotation", "rotation 0.5"):
        for who in (None, "heavy user", "heavy visitor", "light user", "light visitor"):
            ms = sorted(1000 * s for s, status, tag, _ in results
                        if status == 200 and tag[0] == arm and who in (None, tag[1]))
            print(f"| {arm} | {who or 'all'} | {len(ms)} | {harness.percentile(ms, 0.5):.2f} | "
                  f"{harness.percentile(ms, 0.99):.2f} |")


def stack(args) -> None:
    from app import create_app
    from app.storage.interactions import ServedRecommendation
    from benchmarks.serving import start_database
    from devstack import services

    print(f"stack: SecantusDB (2 GB cache), Redis, the API under gunicorn (2 gevent workers, OMP_NUM_THREADS=1); "
          f"load average {harness.load_average()}", flush=True)
    directory = Path(tempfile.mkdtemp(prefix="marketrec-shaping-bench-db-"))
    database = None if "MONGODB_URI" in os.environ else start_database(directory / "db")
    try:
        with harness.stack("marketrec-shaping-bench-") as (settings, _, workdir):
            app = create_app(settings)
            with app.app_context():
                dump = seed_stack(args.services, args.users, args.journeys)
                ServedRecommendation.ensure_indexes()
                print(f"served log indexes: {sorted(ServedRecommendation._get_collection().index_information())}")
            port = services.free_port()
            api = harness.start_api(settings, port, log_path=workdir / "gunicorn.log")
            try:
                rotation_run(Client(port), rotation_people(dump, args.visitors), args.visits)
                if not args.served_records:
                    return
                people = served_log_people(dump, args.visitors * len(ROTATIONS), args.heavy, args.spread_visitors)
                recommendable = [s["id"] for s in dump["services"] if s["status"] in ("published", "unverified")]
                records = served_records(people, recommendable, args.served_records, args.heavy_panels,
                                         args.spread_users)
                insert_served_log(settings["MONGODB_URI"], records, args.insert_minutes)
                with app.app_context():
                    explain_showings(people)
                cost_run(port, people, args.seconds)
            finally:
                services.stop(api)
    finally:
        services.stop(database)
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    off = commands.add_parser("offline", help="the diversity trade-off, engines called directly")
    off.add_argument("--data", type=Path, default=Path("var/data/ml-100k"))
    off.add_argument("--ncf", choices=("default", "single", "none"), default="default",
                     help="NCF as served (five distilled into one), one model, or none")
    off.add_argument("--synthetic-services", type=int, default=1000)
    off.add_argument("--synthetic-users", type=int, default=1000)
    off.add_argument("--synthetic-journeys", type=int, default=40_000,
                     help="about 9 distinct takings per user at the default sizes")
    off.add_argument("--plot", type=Path, default=ROOT / "docs/images/panel-shaping-diversity.png")
    run = commands.add_parser("stack", help="rotation and its cost through the real stack")
    run.add_argument("--services", type=int, default=500)
    run.add_argument("--users", type=int, default=1000, help="users of the dump; the rotation run takes the first")
    run.add_argument("--journeys", type=int, default=5000)
    run.add_argument("--visitors", type=int, default=50, help="logged-in users and as many visitors per rotation")
    run.add_argument("--visits", type=int, default=10)
    run.add_argument("--served-records", type=int, default=1_000_000, help="0: the rotation run only")
    run.add_argument("--insert-minutes", type=float, default=10.0, help="stop inserting after this long")
    run.add_argument("--heavy", type=int, default=50, help="heavy users and as many heavy visitors")
    run.add_argument("--heavy-panels", type=int, default=300, help="served panels of each heavy person")
    run.add_argument("--spread-users", type=int, default=50_000, help="user ids the other records spread over")
    run.add_argument("--spread-visitors", type=int, default=100_000, help="visitors the other records spread over")
    run.add_argument("--seconds", type=float, default=60.0, help="of the paired latency run")
    args = parser.parse_args()
    os.chdir(ROOT)
    {"offline": offline, "stack": stack}[args.command](args)


if __name__ == "__main__":
    main()
