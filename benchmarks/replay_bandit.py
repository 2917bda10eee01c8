"""The Open Bandit Dataset sample as benchmarks/replay_obd.py replays it: the log, the dump, the estimate.

Pure: nothing here talks to the service. The sample (ZOZOTOWN, one week of November
2019) logs 10,000 impressions per policy and campaign: a recommendation widget of three
slots showed an item in a slot to a visitor, who clicked it or not. That is our v1 panel
(3 services), so the replay asks the service for a v1 panel before each impression of the
uniform random policy's log and estimates, off-policy, the click rate the service's panels
would have had.

Mapping (documented, not learnt):
- Items are services (their ids as in the log); item features 1 to 3 (hashed categorical)
  become categories, named after the feature and its hash; the price (feature 0) is unused.
- Visitors are anonymous: the log holds no user id, only four hashed user features shared
  by hundreds of visitors, so each impression is a visitor of its own (a `unique_id` per
  impression) and the dump holds no user.
- A click is a `click` event of that visitor on the item. Impressions without a click send
  nothing: they are not page views, and 10,000 uniform impressions counted as views would
  drown the ~40 clicks in noise.

Estimate: the random policy showed each item in each slot with the logged propensity
(1/80 in campaign `all`). A panel that holds the logged item shows it in one of its slots;
taking that slot as any of them (click rates are treated as equal across slots, which lets
a panel match in 3 slots instead of 1), the policy's probability of the logged (item, slot)
is 1/len(panel) when the item is in the panel, else 0. IPS then estimates the panel's
clicks per impression, comparable with the random policy's own click rate.
"""
from __future__ import annotations

import csv
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from app.rl.ope import Estimate, ips, mean_estimate, paired_difference
from app.sample_data.synthetic import empty_dump

CAMPAIGNS = ("all", "men", "women")
CATEGORY_FEATURES = ("item_feature_1", "item_feature_2", "item_feature_3")
PROVIDER = {"id": 1, "pid": None, "name": "ZOZOTOWN (Open Bandit Dataset)"}
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "marketrec:benchmarks/replay_obd")
HOME_PAGE = "/"


@dataclass(frozen=True)
class Impression:
    """One row of a policy's log: the item shown, in which slot (1 to 3), clicked or not, its
    logging probability, and when (seconds since the epoch)."""

    row: int
    item_id: int
    slot: int
    clicked: bool
    propensity: float
    timestamp: float

    @property
    def visitor(self) -> str:
        """The anonymous visitor of this impression (`unique_id`): one per impression, the same on every run."""
        return str(uuid.uuid5(NAMESPACE, f"impression/{self.row}"))


@dataclass
class BanditData:
    name: str
    dump: dict
    impressions: list[Impression]


def log_path(obd_dir: Path, policy: str, campaign: str) -> Path:
    return Path(obd_dir) / policy / campaign / f"{campaign}.csv"


def read_impressions(path: Path) -> list[Impression]:
    """A policy's log in time order (ties keep the file's order)."""
    with open(path, newline="") as file:
        rows = [Impression(row, int(r["item_id"]), int(r["position"]), r["click"] == "1",
                           float(r["propensity_score"]), datetime.fromisoformat(r["timestamp"]).timestamp())
                for row, r in enumerate(csv.DictReader(file))]
    return sorted(rows, key=lambda i: (i.timestamp, i.row))


def catalogue_dump(item_context: Path) -> dict:
    """Every item of the campaign as a published service; item features 1 to 3 as categories."""
    with open(item_context, newline="") as file:
        items = list(csv.DictReader(file))
    names = sorted({(feature, item[feature]) for item in items for feature in CATEGORY_FEATURES})
    category_id = {name: i for i, name in enumerate(names, start=1)}
    dump = empty_dump()
    dump["categories"] = [{"id": i, "name": f"{feature.replace('item_', '')} {value[:8]}"}
                          for (feature, value), i in category_id.items()]
    dump["providers"] = [dict(PROVIDER)]
    dump["services"] = [_service(int(item["item_id"]), [category_id[(f, item[f])] for f in CATEGORY_FEATURES])
                        for item in sorted(items, key=lambda item: int(item["item_id"]))]
    return dump


def _service(item_id: int, categories: list[int]) -> dict:
    return {
        "id": item_id, "pid": None, "name": f"item {item_id}", "description": f"ZOZOTOWN item {item_id}.",
        "tagline": "", "countries": [], "order_type": "open_access", "rating": "0.00", "horizontal": False,
        "status": "published", "categories": categories, "providers": [PROVIDER["id"]],
        "resource_organisation": PROVIDER["id"], "scientific_domains": [], "platforms": [], "target_users": [],
        "related_services": [], "required_services": [], "access_types": [], "access_modes": [], "trls": [],
        "life_cycle_statuses": [], "research_steps": [],
    }


def load(obd_dir: Path, campaign: str = "all", policy: str = "random") -> BanditData:
    directory = Path(obd_dir) / policy / campaign
    return BanditData(f"Open Bandit Dataset sample, {policy} policy, campaign {campaign}",
                      catalogue_dump(directory / "item_context.csv"),
                      read_impressions(log_path(obd_dir, policy, campaign)))


def panel_request(impression: Impression, moment: str, engine: str | None = None, k: int | None = None) -> dict:
    """The widget's request before `impression`: a v1 panel (or a list of `k`) for its visitor on the
    home page; with `engine`, the probe of that engine (no visit, client "undefined")."""
    body = {"unique_id": impression.visitor, "timestamp": moment, "page_id": HOME_PAGE, "search_data": {},
            "panel_id": "v1"}
    if engine is None:
        body.update(client_id="marketplace", visit_id=visit_id(impression) if k is None else None)
    else:
        body.update(client_id="undefined", visit_id=None, engine_version=engine)
    return {**body, "k": k} if k is not None else body


def visit_id(impression: Impression) -> str:
    return str(uuid.uuid5(NAMESPACE, f"visit/{impression.row}"))


def click_event(impression: Impression, moment: str) -> dict:
    """The `/events` body of the click of a clicked impression (its `id` makes a retry count once)."""
    return {"events": [{"unique_id": impression.visitor, "service_id": impression.item_id, "type": "click",
                        "timestamp": moment, "id": f"obd-click-{_digest(impression)}"}]}


def _digest(impression: Impression) -> str:
    return hashlib.sha1(f"{impression.row}/{impression.item_id}/{impression.timestamp}".encode()).hexdigest()[:16]


@dataclass
class PanelClicks:
    """Off-policy counts of one way of answering (the service, an engine, a baseline): for every
    impression, whether its panel and its list of 10 held the logged item."""

    clicks: list[bool] = field(default_factory=list)
    propensities: list[float] = field(default_factory=list)
    target: list[float] = field(default_factory=list)  # the panel's probability of the logged (item, slot)
    in_list: list[bool] = field(default_factory=list)
    served_by: dict[str, int] = field(default_factory=dict)

    def add(self, impression: Impression, panel: list[int], listing: list[int], served: str | None = None) -> None:
        shown = panel[:3]
        self.clicks.append(impression.clicked)
        self.propensities.append(impression.propensity)
        self.target.append(1.0 / len(shown) if impression.item_id in shown else 0.0)
        self.in_list.append(impression.item_id in listing[:10])
        if served:
            self.served_by[served] = self.served_by.get(served, 0) + 1

    @property
    def impressions(self) -> int:
        return len(self.clicks)

    def click_rate(self) -> Estimate:
        """IPS of the clicks per impression of this way's panels."""
        return ips(self.clicks, self.target, self.propensities)

    def versus_logged(self) -> Estimate:
        """This way's click rate minus the logging policy's, per impression, paired on the same rows."""
        weights = np.asarray(self.target) / np.asarray(self.propensities)
        clicks = np.asarray(self.clicks, np.float64)
        return paired_difference(weights * clicks, clicks)

    @property
    def matched(self) -> int:
        """Impressions whose logged item the panel held: the rows the estimate rests on."""
        return sum(t > 0 for t in self.target)

    def click_hits(self) -> tuple[int, int, int]:
        """Of the clicked impressions: how many, how many items were in the panel, in the list of 10."""
        clicked = [i for i, c in enumerate(self.clicks) if c]
        return len(clicked), sum(self.target[i] > 0 for i in clicked), sum(self.in_list[i] for i in clicked)


class ClickPopularity:
    """The items clicked most so far on the same stream (ties to the lowest id), as the client counts them."""

    def __init__(self, items: list[int]):
        self.items = np.asarray(sorted(items), dtype=np.int64)
        self.row = {int(item): i for i, item in enumerate(self.items)}
        self.clicks = np.zeros(len(self.items), dtype=np.int64)

    def record(self, impression: Impression) -> None:
        if impression.clicked and impression.item_id in self.row:
            self.clicks[self.row[impression.item_id]] += 1

    def top(self, k: int) -> list[int]:
        return [int(i) for i in self.items[np.lexsort((self.items, -self.clicks))][:k]]


def logged_click_rate(impressions: list[Impression]) -> Estimate:
    """The logging policy's own clicks per impression, with a normal interval."""
    return mean_estimate([float(i.clicked) for i in impressions])
