"""The fold of served panels into what followed them: clicks in the panel, every click
leaving its page, orders after a panel click. Beat runs it every minute
(`fold_served_outcomes` in app/tasks.py); it reads each served panel once, never the
whole log per request.

Time is cut in slices of SLICE_SECONDS, each read as a range bounded on both sides: an
open range (`$gte` a time, sorted, limit 1, to skip empty stretches) examined every
later key on SecantusDB, which applies the limit after the scan (400,000 served
recommendations: 61 s, and the database stalled every other client meanwhile). An empty
slice costs two reads that examine nothing; the first run starts FIRST_LOOKBACK back.
A slice is folded once the attribution window
(EXPERIMENT_ATTRIBUTION_SECONDS) has passed after its end: a panel's outcome is what its
visitor did within that window (by the time the service received each action), so the
figures of a slice do not change after it is counted. For each slice:
1. its served panels (the `created_at` index), and the actions from the pages that showed
   them, then the journeys that start with a panel click, a few steps deep
   (`source.visit_id` index, in batches of visits);
2. per hour and engine: panels, clicks, page clicks, orders (app/storage/served_outcomes.py);
3. per experiment, variant and person: the same (UnitOutcomes), and for each shadow variant
   the clicks and orders on services it would have shown too (a replay: what a shadow would
   have earned is unknowable, what it agrees with is not), and where the served engine drew
   at random, the same clicks and orders weighted by 1 / the chance it had of showing each
   service (the off-policy estimate, app/experiments/statistics.py);
then every experiment that got new counts is summarised (app/experiments/statistics.py),
its always-valid p-values carried from its previous summary.
"""
from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import islice

from flask import current_app

from app.experiments.statistics import summarize
from app.experiments.totals import VariantTotals
from app.storage import database
from app.storage.experiments import Bypasses, Experiment, UnitOutcomes, bypassed_requests, record_results
from app.storage.served_outcomes import TrafficHour, counted_once, fold_through, folded_through

log = logging.getLogger(__name__)

SLICE_SECONDS = 60
VISITS_PER_READ = 100  # an `$in` of 100 visit ids plans as one index scan on SecantusDB and MongoDB
JOURNEY_DEPTH = 4  # steps after a panel click in which an order counts as following it
RUN_BUDGET_SECONDS = 40.0  # a run that falls behind stops here; the next one goes on
# Where the first run starts: panels served earlier than this before it are not counted.
FIRST_LOOKBACK = timedelta(days=2)
ACTION_FIELDS = {"source.visit_id": 1, "source.root": 1, "target.visit_id": 1, "action.order": 1,
                 "received_at": 1}
SERVED_FIELDS = {"engine": 1, "visit_id": 1, "panel_id": 1, "created_at": 1, "experiment": 1, "variant": 1,
                 "unit": 1, "experiment_bypassed": 1, "service_ids": 1, "probabilities": 1}


@dataclass
class Outcome:
    """What followed one served panel within the window."""

    page_clicks: int = 0
    clicks: int = 0
    clicked: list[int] = field(default_factory=list)  # services clicked in the panel
    ordered_after: Counter = field(default_factory=Counter)  # clicked service → orders that followed
    # Shown service → its logged chance of being shown, when the served engine drew at random
    # (some chance below 1); None when the panel was certain, which gives a shadow's services
    # that it did not show no chance at all.
    chances: dict[int, float] | None = None

    @property
    def orders(self) -> int:
        return sum(self.ordered_after.values())


def fold_served_outcomes(now: datetime | None = None, budget: float = RUN_BUDGET_SECONDS) -> dict:
    """Fold every slice that is due; returns how many slices and panels, and how far."""
    window = timedelta(seconds=current_app.config["EXPERIMENT_ATTRIBUTION_SECONDS"])
    due_before = (now or datetime.now(timezone.utc)) - window
    step = timedelta(seconds=SLICE_SECONDS)
    began, slices, panels, touched = time.monotonic(), 0, 0, set()
    start = fold_through() or _floor(due_before - FIRST_LOOKBACK)
    while start + step <= due_before and time.monotonic() - began <= budget:
        end = start + step
        served = list(database()["recommendations"].find({"created_at": {"$gte": start, "$lt": end}},
                                                         SERVED_FIELDS))
        shadows = list(database()["shadow_recommendations"].find({"created_at": {"$gte": start, "$lt": end}}))
        if served or shadows:
            outcomes = _outcomes(served, window)
            _count_traffic(start, served, outcomes)
            touched |= _count_units(start, served, outcomes) | _count_bypasses(start, served)
            touched |= _count_shadows(start, shadows, window, outcomes)
            folded_through(end)
            slices, panels = slices + 1, panels + len(served)
        start = end
    if start != fold_through():
        folded_through(start)  # past the empty slices too
    for experiment_id in sorted(touched):
        summarise(experiment_id)
    return {"slices": slices, "panels": panels, "experiments": sorted(touched), "through": fold_through()}


def _floor(moment: datetime) -> datetime:
    seconds = int(moment.timestamp()) // SLICE_SECONDS * SLICE_SECONDS
    return datetime.fromtimestamp(seconds, timezone.utc)


def _batches(items: list, size: int):
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _actions_from(visits: list[str]) -> dict[str, list[dict]]:
    """The actions that left each of `visits`, by visit."""
    found = defaultdict(list)
    for batch in _batches(sorted(set(visits)), VISITS_PER_READ):
        for action in database()["user_actions"].find({"source.visit_id": {"$in": batch}}, ACTION_FIELDS):
            found[action["source"]["visit_id"]].append(action)
    return found


def _outcomes(served: list[dict], window: timedelta) -> dict[str, Outcome]:
    """Outcome of each served panel with a visit id, by recommendation id."""
    linked = [record for record in served if record.get("visit_id")]
    from_pages = _actions_from([record["visit_id"] for record in linked])
    outcomes, journeys = {}, []  # journeys: (outcome, clicked service, deadline, visit the click led to)
    for record in linked:
        deadline = record["created_at"] + window
        outcome = outcomes[record["_id"]] = Outcome(chances=_chances(record))
        for action in from_pages.get(record["visit_id"], ()):
            if action["received_at"] > deadline:
                continue
            outcome.page_clicks += 1
            root = action["source"].get("root") or {}
            if root.get("type") == "recommendation_panel" and _same_panel(root.get("panel_id"), record):
                outcome.clicks += 1
                service = root.get("resource_id")
                outcome.clicked.append(service)
                if action["action"].get("order"):
                    outcome.ordered_after[service] += 1
                journeys.append((outcome, service, deadline, action["target"]["visit_id"]))
    _follow_orders(journeys)
    return outcomes


def _chances(record: dict) -> dict[int, float] | None:
    probabilities = record.get("probabilities") or ()
    if not probabilities or min(probabilities) >= 1.0 or len(probabilities) != len(record.get("service_ids") or ()):
        return None
    return {service: p for service, p in zip(record["service_ids"], probabilities) if p > 0}


def _same_panel(clicked_panel: str | None, record: dict) -> bool:
    """A click names the panel it was in; two panels on one page each get their own clicks."""
    served = record.get("panel_id") if record.get("panel_id") in ("v1", "v2") else "v1"
    return clicked_panel in (None, "") or (clicked_panel if clicked_panel in ("v1", "v2") else "v1") == served


def _follow_orders(journeys: list[tuple]) -> None:
    """Count the orders in the journeys that start with a panel click, JOURNEY_DEPTH steps deep."""
    for _ in range(JOURNEY_DEPTH):
        if not journeys:
            return
        following = _actions_from([visit for *_, visit in journeys])
        next_steps = []
        for outcome, service, deadline, visit in journeys:
            for action in following.get(visit, ()):
                if action["received_at"] > deadline:
                    continue
                if action["action"].get("order"):
                    outcome.ordered_after[service] += 1
                next_steps.append((outcome, service, deadline, action["target"]["visit_id"]))
        journeys = next_steps


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _count_traffic(start: datetime, served: list[dict], outcomes: dict[str, Outcome]) -> None:
    totals = defaultdict(lambda: defaultdict(int))
    for record in served:
        row = totals[record["engine"]]
        row["panels"] += 1
        outcome = outcomes.get(record["_id"])
        if outcome is not None:
            row["linked_panels"] += 1
            row["clicks"] += outcome.clicks
            row["page_clicks"] += outcome.page_clicks
            row["orders"] += outcome.orders
    hour = _hour(start)
    for engine, row in totals.items():
        counted_once(TrafficHour, f"{hour.isoformat()}|{engine}", start, dict(row),
                     {"hour": hour, "engine": engine})


def _count_units(start: datetime, served: list[dict], outcomes: dict[str, Outcome]) -> set[str]:
    """Per experiment, variant and person; the experiments counted."""
    totals = defaultdict(lambda: defaultdict(int))
    for record in served:
        outcome = outcomes.get(record["_id"])
        if record.get("variant") is None or outcome is None:
            continue
        row = totals[(record["experiment"], record["variant"], record["unit"])]
        row["panels"] += 1
        row["clicks"] += outcome.clicks
        row["page_clicks"] += outcome.page_clicks
        row["orders"] += outcome.orders
    _store_units(start, totals)
    return {experiment for experiment, _, _ in totals}


def _count_bypasses(start: datetime, served: list[dict]) -> set[str]:
    bypassed = Counter(record["experiment_bypassed"] for record in served if record.get("experiment_bypassed"))
    for experiment, requests in bypassed.items():
        counted_once(Bypasses, experiment, start, {"requests": requests}, {})
    return set(bypassed)


def _store_units(start: datetime, totals: dict) -> None:
    for (experiment, variant, unit), row in totals.items():
        counted_once(UnitOutcomes, f"{experiment}|{variant}|{unit}", start, dict(row),
                     {"experiment": experiment, "variant": variant, "unit": unit})


def _count_shadows(start: datetime, shadows: list[dict], window: timedelta, outcomes: dict[str, Outcome]) -> set[str]:
    """A shadow's panel counts the clicks and orders on services it would have shown too."""
    # A shadow logged just after its served panel's slice ended: that panel's outcome, read here.
    missing = sorted({s["recommendation_id"] for s in shadows} - set(outcomes))
    if missing:  # a few at most, by _id one at a time (an `$in` over _id scans on SecantusDB)
        served = [r for rid in missing if (r := database()["recommendations"].find_one({"_id": rid}, SERVED_FIELDS))]
        outcomes = {**outcomes, **_outcomes(served, window)}
    totals = defaultdict(lambda: defaultdict(int))
    for shadow in shadows:
        outcome = outcomes.get(shadow["recommendation_id"])
        if outcome is None:
            continue
        would_show = set(shadow.get("service_ids") or ())
        row = totals[(shadow["experiment"], shadow["variant"], shadow["unit"])]
        row["panels"] += 1
        row["page_clicks"] += outcome.page_clicks
        row["clicks"] += sum(service in would_show for service in outcome.clicked)
        row["orders"] += sum(n for service, n in outcome.ordered_after.items() if service in would_show)
        if outcome.chances:
            _weigh(row, outcome, {s: p for s, p in outcome.chances.items() if s in would_show}, len(would_show))
    _store_units(start, totals)
    return {experiment for experiment, _, _ in totals}


def _weigh(row: dict, outcome: Outcome, agreed: dict[int, float], would_show: int) -> None:
    """The off-policy sums of one shadow panel; `agreed`: the shown services the shadow would
    show too, with their chances."""
    row["logged_panels"] += 1
    row["shadow_shown"] += would_show
    row["weighted_shown"] += sum(1.0 / p for p in agreed.values())
    row["weighted_clicks"] += sum(1.0 / agreed[s] for s in outcome.clicked if s in agreed)
    row["weighted_orders"] += sum(n / agreed[s] for s, n in outcome.ordered_after.items() if s in agreed)


def variant_totals(experiment_id: str) -> dict[str, VariantTotals]:
    """Sums over the experiment's people, per variant (one `$group` over its UnitOutcomes)."""
    square = lambda name: {"$multiply": [f"${name}", f"${name}"]}  # noqa: E731
    product = lambda a, b: {"$multiply": [f"${a}", f"${b}"]}  # noqa: E731
    pipeline = [
        {"$match": {"experiment": experiment_id}},
        {"$group": {
            "_id": "$variant", "units": {"$sum": 1},
            **{name: {"$sum": f"${name}"} for name in ("panels", "clicks", "page_clicks", "orders")},
            "clicked_units": {"$sum": {"$cond": [{"$gt": ["$clicks", 0]}, 1, 0]}},
            "ordering_units": {"$sum": {"$cond": [{"$gt": ["$orders", 0]}, 1, 0]}},
            "panels_sq": {"$sum": square("panels")}, "clicks_sq": {"$sum": square("clicks")},
            "orders_sq": {"$sum": square("orders")}, "page_clicks_sq": {"$sum": square("page_clicks")},
            "panels_clicks": {"$sum": product("panels", "clicks")},
            "panels_orders": {"$sum": product("panels", "orders")},
            "page_clicks_clicks": {"$sum": product("page_clicks", "clicks")},
            **{name: {"$sum": f"${name}"} for name in ("logged_panels", "weighted_clicks", "weighted_orders",
                                                       "weighted_shown", "shadow_shown")},
            "logged_units": {"$sum": {"$cond": [{"$gt": ["$logged_panels", 0]}, 1, 0]}},
            "logged_panels_sq": {"$sum": square("logged_panels")},
            "weighted_clicks_sq": {"$sum": square("weighted_clicks")},
            "logged_panels_weighted_clicks": {"$sum": product("logged_panels", "weighted_clicks")},
            "weighted_orders_sq": {"$sum": square("weighted_orders")},
            "logged_panels_weighted_orders": {"$sum": product("logged_panels", "weighted_orders")},
        }},
    ]
    return {row.pop("_id"): VariantTotals.from_dict(row) for row in UnitOutcomes._get_collection().aggregate(pipeline)}


def summarise(experiment_id: str) -> dict | None:
    """Summarise the experiment's counts now and store it on the experiment (its previous
    summary carries the always-valid p-values and intervals forward)."""
    experiment = Experiment.objects(id=experiment_id).first()
    if experiment is None:
        return None
    counted = variant_totals(experiment_id)
    totals = {v.name: counted.get(v.name, VariantTotals()) for v in experiment.variants}
    control = next(v.name for v in experiment.variants if v.control)
    results = summarize(totals, control, previous=dict(experiment.results or {}) or None,
                        shadows={v.name for v in experiment.variants if v.shadow})
    results = {**results, "bypassed": bypassed_requests(experiment_id), "updated_at": datetime.now(timezone.utc),
               "through": fold_through()}
    record_results(experiment.id, results)
    return results
