"""Journeys: the trees user actions form, rooted at the visit that showed a
recommendation panel.

Every action is an edge from the page visit `source.visit_id` to the visit
`target.visit_id`. A journey starts with the clicks made in the panel shown on
one visit (actions whose `source.root.type` is "recommendation_panel"); the
actions leaving a visit the journey reached are its children, and so on.
"""
from __future__ import annotations

from collections.abc import Mapping

from pymongo import ASCENDING

from app.storage.interactions import UserAction

PANEL_ROOT = "recommendation_panel"
# Bounds on the work one call may do, whatever the data looks like.
MAX_JOURNEY_ACTIONS = 10_000
MAX_STEPS_BACK = 100
IN_TIME_ORDER = [("timestamp", ASCENDING), ("_id", ASCENDING)]


def public_action(doc: dict) -> dict:
    """A stored action as readers get it: `id` for `_id`, timestamps as UTC datetimes."""
    action = {key: value for key, value in doc.items() if key not in ("_id", "received_at", "order_service_id")}
    action["id"] = doc["_id"]
    return action


def _node(doc: dict) -> dict:
    return {"action": public_action(doc), "children": []}


def journey_tree(visit_id: str) -> dict:
    """The journeys that start in the recommendation panel shown on visit `visit_id`.

    Returns `{"visit_id": ..., "branches": [node, ...]}`, one branch per click
    in the panel; a node is `{"action": {...}, "children": [node, ...]}` and
    siblings are in time order. An action reached twice (a cycle in the data)
    appears once, under the first parent reached.
    """
    visit_id = visit_id.lower()
    actions = UserAction._get_collection()
    roots = actions.find({"source.visit_id": visit_id, "source.root.type": PANEL_ROOT}).sort(IN_TIME_ORDER)
    branches = [_node(doc) for doc in roots]
    seen_actions = {node["action"]["id"] for node in branches}
    expanded_visits = {visit_id}
    frontier = branches
    # One query per depth level, not per node.
    while frontier and len(seen_actions) < MAX_JOURNEY_ACTIONS:
        parents = {}
        for node in frontier:
            target = node["action"]["target"]["visit_id"]
            if target not in expanded_visits:
                expanded_visits.add(target)
                parents[target] = node
        frontier = []
        if not parents:
            break
        for doc in actions.find({"source.visit_id": {"$in": list(parents)}}).sort(IN_TIME_ORDER):
            if doc["_id"] in seen_actions:
                continue
            seen_actions.add(doc["_id"])
            child = _node(doc)
            parents[doc["source"]["visit_id"]]["children"].append(child)
            frontier.append(child)
    return {"visit_id": visit_id, "branches": branches}


def journey_service(visit_id: str | None, unstored: Mapping[str, dict] | None = None) -> int | None:
    """The service of the journey that reached visit `visit_id`: the `service_id`
    of the nearest action on the way back to where the journey started. `unstored`
    maps target visit ids to actions not stored yet (a request's own), looked at first."""
    actions = UserAction._get_collection()
    unstored = unstored or {}
    seen = set()
    while visit_id and visit_id not in seen and len(seen) < MAX_STEPS_BACK:
        seen.add(visit_id)
        parent = unstored.get(visit_id) or actions.find_one({"target.visit_id": visit_id},
                                                              {"service_id": 1, "source.visit_id": 1})
        if parent is None:
            return None
        if parent.get("service_id") is not None:
            return parent["service_id"]
        visit_id = parent["source"].get("visit_id")
    return None


def count_nodes(tree: dict) -> int:
    """How many actions a journey tree holds."""
    count, todo = 0, list(tree["branches"])
    while todo:  # no recursion: a journey may be deeper than Python's stack
        node = todo.pop()
        count += 1
        todo.extend(node["children"])
    return count
