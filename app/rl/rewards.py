"""Rewards from user journeys, driven by a JSON table (app/rl/reward_table.json), not by code.

A page id is abstracted to a page type by the first matching regex rule; a
transition (source page type, target page type, order flag) becomes a symbol by
the first matching transition rule; each symbol has a value. A service shown in
a panel earns the best value reached in the journeys started by clicking it
(0 when nobody clicked it); the K values of a panel combine into one reward.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_TABLE_PATH = Path(__file__).with_name("reward_table.json")
PANEL_ROOT = "recommendation_panel"


@dataclass(frozen=True)
class RewardTable:
    """The parsed reward table: compiled page rules, transition rules, symbol values, how to combine."""

    page_rules: tuple[tuple[re.Pattern, str], ...]
    default_page_type: str
    transitions: tuple[Mapping, ...]
    default_symbol: str
    symbol_values: Mapping[str, float]
    combine: str  # "rms", "mean", "max" or "sum"

    @classmethod
    def from_dict(cls, data: Mapping) -> RewardTable:
        """The table a JSON document describes."""
        rules = tuple((re.compile(rule["pattern"]), rule["type"]) for rule in data["page_types"])
        table = cls(rules, data.get("default_page_type", "unknown"), tuple(data["transitions"]),
                    data.get("default_symbol", "unknown"), {k: float(v) for k, v in data["symbol_values"].items()},
                    data.get("combine", "rms"))
        if table.combine not in _COMBINERS:
            raise ValueError(f"unknown combine {table.combine!r}; one of {sorted(_COMBINERS)}")
        return table


def load_reward_table(path: str | Path | None = None) -> RewardTable:
    """The reward table in `path` (the packaged app/rl/reward_table.json by default)."""
    return RewardTable.from_dict(json.loads(Path(path or DEFAULT_TABLE_PATH).read_text()))


def page_type(page_id: str | None, table: RewardTable) -> str:
    """The type of a page id (e.g. "/services/egi-cloud/offers" → "offers"); query and fragment ignored."""
    path = (page_id or "").split("?", 1)[0].split("#", 1)[0]
    for pattern, kind in table.page_rules:
        if pattern.search(path):
            return kind
    return table.default_page_type


def _matches(expected, value) -> bool:
    """A rule field matches when absent, equal, or (a list) containing the value."""
    if expected is None:
        return True
    if isinstance(expected, list):
        return value in expected
    return expected == value


def transition_symbol(source_type: str, target_type: str, order: bool, table: RewardTable) -> str:
    """The symbol of one transition: the first rule matching its source type, target type and order flag."""
    for rule in table.transitions:
        if (_matches(rule.get("source"), source_type) and _matches(rule.get("target"), target_type)
                and _matches(rule.get("order"), bool(order))):
            return rule["symbol"]
    return table.default_symbol


def action_symbol(action: Mapping, table: RewardTable) -> str:
    """The symbol of one wire-format (or stored) user action."""
    source = page_type(action.get("source", {}).get("page_id"), table)
    target = page_type(action.get("target", {}).get("page_id"), table)
    return transition_symbol(source, target, bool(action.get("action", {}).get("order", False)), table)


def journey_reward(branch: Mapping, table: RewardTable) -> float:
    """The best symbol value over every action of one journey branch (`{"action", "children"}`)."""
    best, stack = 0.0, [branch]
    while stack:  # iterative: a journey may be deep
        node = stack.pop()
        best = max(best, table.symbol_values.get(action_symbol(node["action"], table), 0.0))
        stack.extend(node.get("children", ()))
    return best


def clicked_service(branch: Mapping) -> int | None:
    """The service whose panel click started this branch, if it is one."""
    root = branch["action"].get("source", {}).get("root") or {}
    if root.get("type") != PANEL_ROOT or root.get("resource_id") is None:
        return None
    return int(root["resource_id"])


def group_by_clicked_service(branches: Iterable[Mapping]) -> dict[int, list[Mapping]]:
    """A journey tree's branches grouped by the service clicked in the panel."""
    grouped: dict[int, list[Mapping]] = defaultdict(list)
    for branch in branches:
        service = clicked_service(branch)
        if service is not None:
            grouped[service].append(branch)
    return dict(grouped)


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(values**2))) if values.size else 0.0


_COMBINERS = {
    "rms": _rms,
    "mean": lambda v: float(v.mean()) if v.size else 0.0,
    "max": lambda v: float(v.max()) if v.size else 0.0,
    "sum": lambda v: float(v.sum()),
}


def combine(values: Sequence[float], table: RewardTable) -> float:
    """The K per-item values of a panel as one reward, as the table says (root-mean-square by default)."""
    return _COMBINERS[table.combine](np.asarray(values, dtype=np.float64))


def panel_reward(shown_ids: Sequence[int], branches_by_service: Mapping[int, Sequence[Mapping]],
                 table: RewardTable) -> tuple[list[float], float]:
    """Per shown service, the best journey value started from it (0 if not clicked), and their combination."""
    per_item = [max((journey_reward(b, table) for b in branches_by_service.get(int(s), ())), default=0.0)
                for s in shown_ids]
    return per_item, combine(per_item, table)
