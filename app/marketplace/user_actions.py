"""User actions (POST /user_actions): the contract's action objects, stored
durably, all of a request or none.

Each action is stored as received (the fields the contract names; unknown keys
are dropped), with UUIDs lower-cased, the timestamp as a UTC date, and
`service_id` set when the action itself names a service: the `resource_id` of
its `source.root` when the root's `resource_type` is "service" or absent. The
dump carries no page slugs, so `/services/<slug>` pages are not mapped to
services; an order without a root gets its service from its journey when
histories are read (app/marketplace/history.py).
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from app.errors import InvalidInput
from app.marketplace import recent_history
from app.marketplace.journeys import journey_service
from app.storage.interactions import DurableInserts, UserAction
from app.storage.marketplace import MarketUser
from app.storage.snapshots import active_snapshot_id

ACTION_WRITES = DurableInserts(UserAction)
SERVICE_RESOURCE_TYPES = (None, "service")


def parse_timestamp(value: str) -> datetime:
    """An RFC 3339 date-time (already checked by the schema) as an aware UTC datetime.

    Raises ValueError for dates Python cannot hold (year 0, or 9999-12-31 with a
    negative offset, which is year 10000 in UTC) although the format is valid.
    """
    try:
        return datetime.fromisoformat(value.upper()).astimezone(timezone.utc)
    except OverflowError as exc:
        raise ValueError(f"{value} is out of the supported date range") from exc


def interaction_id(client_id: str | None, doc: dict) -> str:
    """The stored `_id`: the client's id, else a digest of the content, so an
    identical action sent twice (a retry without an id) is stored once."""
    if client_id:
        return client_id
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _root_document(root: dict) -> dict:
    fields = {
        "type": root["type"],
        "panel_id": root.get("panel_id"),
        "resource_type": root.get("resource_type"),
        "resource_id": root.get("resource_id"),
    }
    if fields["resource_id"] is not None:
        fields["resource_id"] = int(fields["resource_id"])
    return {key: value for key, value in fields.items() if value is not None}


def action_document(action: dict, received_at: datetime) -> dict:
    """The stored form of one schema-valid wire action. Raises ValueError for a bad timestamp."""
    source, target, details = action["source"], action["target"], action["action"]
    visit_id = source.get("visit_id")
    doc = {
        "user_id": int(action["user_id"]) if action.get("user_id") is not None else None,
        "aai_uid": action.get("aai_uid"),
        "unique_id": action["unique_id"].lower(),
        "timestamp": parse_timestamp(action["timestamp"]),
        "client_id": action.get("client_id"),
        "source": {"visit_id": visit_id.lower() if visit_id else None, "page_id": source["page_id"]},
        "target": {"visit_id": target["visit_id"].lower(), "page_id": target["page_id"]},
        "action": {"type": details["type"], "text": details["text"], "order": details["order"]},
    }
    root = source.get("root")
    if root:
        doc["source"]["root"] = _root_document(root)
        if root.get("resource_type") in SERVICE_RESOURCE_TYPES and root.get("resource_id") is not None:
            doc["service_id"] = int(root["resource_id"])
    doc = {key: value for key, value in doc.items() if value is not None}
    doc["_id"] = interaction_id(action.get("id"), doc)
    doc["received_at"] = received_at
    return doc


def user_ids_by_aai_uid(aai_uids: set[str]) -> dict[str, int]:
    """Marketplace user ids of these federated identities in the active snapshot."""
    if not aai_uids:
        return {}
    snapshot_id = active_snapshot_id()
    if snapshot_id is None:
        return {}
    users = MarketUser._get_collection().find(
        {"snapshot_id": snapshot_id, "aai_uid": {"$in": sorted(aai_uids)}},
        {"aai_uid": 1, "marketplace_id": 1},
    )
    return {user["aai_uid"]: user["marketplace_id"] for user in users}


def _resolve_users(docs: list[dict]) -> None:
    # One query for the whole request; an identity not in the dump (yet) stays as aai_uid only.
    anonymous = {doc["aai_uid"] for doc in docs if "user_id" not in doc and doc.get("aai_uid")}
    known = user_ids_by_aai_uid(anonymous)
    for doc in docs:
        if "user_id" not in doc and doc.get("aai_uid") in known:
            doc["user_id"] = known[doc["aai_uid"]]


def _resolve_order_services(docs: list[dict]) -> None:
    """Give each order without a service of its own its journey's service (`order_service_id`),
    walking back through this request's actions first, then the stored ones. Readers then need
    no walk: resolving every order at read time cost a refit of the interaction models one
    query per order (53 s for MovieLens on SecantusDB). An order whose journey is not stored
    yet stays unresolved, and readers walk its journey then."""
    reached_by = {doc["target"]["visit_id"]: doc for doc in docs}
    for order in docs:
        if order.get("service_id") is None and order["action"]["order"]:
            service = journey_service(order["source"].get("visit_id"), reached_by)
            if service is not None:
                order["order_service_id"] = service


def store_user_actions(actions: list[dict], *, single: bool = False) -> int:
    """Store schema-valid wire actions durably, all or none; returns how many were new.

    Error paths name the item (`3.timestamp`), or only the field when the
    request held a single action (`single=True`). Actions whose id is already
    stored are skipped silently: a retry answers like the first attempt.
    """
    received_at = datetime.now(timezone.utc)
    docs, errors = [], {}
    for index, action in enumerate(actions):
        try:
            docs.append(action_document(action, received_at))
        except ValueError as exc:
            errors["timestamp" if single else f"{index}.timestamp"] = str(exc)
    if errors:
        raise InvalidInput("Input payload validation failed", errors)
    _resolve_users(docs)
    _resolve_order_services(docs)
    stored = ACTION_WRITES.insert(docs)
    recent_history.note_written(recent_history.action_items(docs))
    return stored
