"""SARS generation: every served recommendation, once its journeys had time to happen, becomes a stored
transition (app/storage/sars.py), built by app/rl/sars.build_sars.

    generate_sars()    the recommendations not processed yet (incremental, safe to re-run or to kill)
    regenerate_sars()  drop every transition and build them all again
    load_transitions() the stored transitions as a SarsBatch, encoded with a given snapshot's embeddings

A recommendation is processed when its transition is stored under its id: there
is no separate "done" flag that a crash could leave out of step. Recommendations
are taken oldest first, so everything older than the newest stored transition is
processed; the scan resumes there (ties on the time are checked by id).

The state encoder of a snapshot comes from its service features through the
service autoencoder (seeded, so the same snapshot gives the same embeddings).
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import numpy as np
from flask import current_app
from pymongo.errors import DuplicateKeyError

from app.engines.rl import StateEncoder
from app.errors import InvalidInput
from app.marketplace.history import user_history, visitor_history
from app.marketplace.journeys import journey_tree
from app.progress import Progress, no_progress
from app.rl.export import USER_FEATURE_FIELDS, state_encoder
from app.rl.rewards import RewardTable, load_reward_table
from app.rl.sars import Sars, SarsBatch, build_sars
from app.rl.training import EMBEDDING_CONFIG
from app.storage.interactions import ServedRecommendation
from app.storage.raw_dumps import raw_dump
from app.storage.sars import SarsTransition
from app.storage.snapshots import active_snapshot_id
from app.training.autoencoder import AutoencoderConfig, encode, fit_autoencoder
from app.training.dataset import interaction_data_from_dump

DEFAULT_K = 3  # slots per panel; shorter panels are padded
DEFAULT_SETTLE_SECONDS = 3600  # journeys of a panel mostly end within the hour
HISTORY_LIMIT = 200  # interactions read per visitor; the state uses the last few
CHUNK = 200  # recommendations checked against stored transitions per query

def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# --- The snapshot's state encoder ----------------------------------------------

def service_feature_values(dump: Mapping, fields=USER_FEATURE_FIELDS) -> dict[str, dict[int, list[int]]]:
    """Per user-feature field, each service's values: {"categories": {service id: [category ids]}}."""
    return {name: {int(s["id"]): [int(v) for v in s.get(name) or ()] for s in dump["services"]} for name in fields}


def user_feature_values(dump: Mapping, fields=USER_FEATURE_FIELDS) -> dict[int, dict[str, list[int]]]:
    """Each user's declared features, by user id."""
    return {int(u["id"]): {name: [int(v) for v in u.get(name) or ()] for name in fields} for u in dump["users"]}


def fit_snapshot_encoder(dump: Mapping, config: AutoencoderConfig = EMBEDDING_CONFIG,
                         history_length: int = 10) -> StateEncoder:
    """The state encoder of a dump's catalogue: service embeddings from the service autoencoder."""
    data = interaction_data_from_dump(dump)
    model, _ = fit_autoencoder(data.service_features, config)
    return state_encoder(data.services.ids, encode(model, data.service_features), service_feature_values(dump),
                         history_length)


@lru_cache(maxsize=4)
def _snapshot_context(snapshot_id: str, config_items: tuple, history_length: int):
    dump = raw_dump(snapshot_id)
    encoder = fit_snapshot_encoder(dump, AutoencoderConfig(**dict(config_items)), history_length)
    return encoder, user_feature_values(dump)


def snapshot_context(snapshot_id: str, config: AutoencoderConfig = EMBEDDING_CONFIG,
                     history_length: int = 10) -> tuple[StateEncoder, dict[int, dict[str, list[int]]]]:
    """The snapshot's state encoder and its users' declared features (cached per process: a dump
    and an autoencoder fit are seconds of work, and a snapshot never changes)."""
    return _snapshot_context(snapshot_id, tuple(sorted(asdict(config).items())), history_length)


# --- One recommendation → one transition ------------------------------------------

def history_before(record: Mapping, limit: int = HISTORY_LIMIT) -> list[int]:
    """The services the user (or, anonymous, the browser session) interacted with before the panel was
    served, oldest first: what they did after it belongs to the next state, not this one."""
    if record.get("user_id") is not None:
        interactions = user_history(int(record["user_id"]), limit)
    elif record.get("unique_id"):
        interactions = visitor_history(record["unique_id"], limit)
    else:
        return []
    served_at = _utc(record["created_at"])
    return [int(i.service_id) for i in interactions if _utc(i.timestamp) < served_at]


def declared_features(record: Mapping, users: Mapping[int, Mapping]) -> dict[str, list[int]]:
    """A logged-in user's features from the snapshot; an anonymous visitor's from the search filters."""
    if record.get("user_id") is not None and int(record["user_id"]) in users:
        return dict(users[int(record["user_id"])])
    search = (record.get("request") or {}).get("search_data") or {}
    return {name: [int(v) for v in search.get(name) or ()] for name in USER_FEATURE_FIELDS if search.get(name)}


def _floats(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, np.float32).tobytes()


def transition_document(record: Mapping, encoder: StateEncoder, users: Mapping[int, Mapping], table: RewardTable,
                        snapshot_id: str, k: int = DEFAULT_K) -> dict:
    """The stored form of one served recommendation's transition."""
    branches = journey_tree(record["visit_id"])["branches"]
    history = history_before(record)
    features = declared_features(record, users)
    sars = build_sars(record, branches, history, encoder, table, k=k, user_features=features)
    shown = [int(s) for s in sars.action_ids if s >= 0]
    clicked_services = {int(b["action"]["source"]["root"]["resource_id"]) for b in branches
                        if (b["action"].get("source", {}).get("root") or {}).get("resource_id") is not None}
    document = {
        "_id": record["_id"], "recommended_at": record["created_at"], "created_at": datetime.now(timezone.utc),
        "snapshot_id": snapshot_id, "user_id": record.get("user_id"), "unique_id": record.get("unique_id"),
        "visit_id": record["visit_id"], "engine": record.get("engine"), "history": history,
        "user_features": features, "clicked": [s for s in shown if s in clicked_services],
        "action_ids": sars.action_ids.tolist(), "item_rewards": sars.item_rewards.astype(float).tolist(),
        "reward": float(sars.reward), "done": bool(sars.done), "propensities": sars.propensities.astype(float).tolist(),
        "state": _floats(sars.state), "action": _floats(sars.action), "next_state": _floats(sars.next_state),
        "embedding_dim": int(encoder.service_embeddings.shape[1]),
    }
    return {key: value for key, value in document.items() if value is not None}


# --- Incremental generation -------------------------------------------------------------

def _pending_query(settle_seconds: float) -> dict:
    """Served panels on a known visit, old enough, not older than the newest stored transition."""
    query = {"visit_id": {"$exists": True, "$ne": None},
             "created_at": {"$lte": datetime.now(timezone.utc) - timedelta(seconds=settle_seconds)}}
    newest = SarsTransition._get_collection().find_one({}, {"recommended_at": 1}, sort=[("recommended_at", -1)])
    if newest is not None:
        query["created_at"]["$gte"] = newest["recommended_at"]  # ties on the time are told apart by id below
    return query


def generate_sars(progress: Progress = no_progress, settle_seconds: float | None = None, snapshot_id: str | None = None,
                  k: int = DEFAULT_K, table: RewardTable | None = None) -> dict:
    """Store the transition of every served recommendation not processed yet, oldest first.

    Only recommendations at least `settle_seconds` old are taken (RL_SARS_SETTLE_SECONDS by default),
    so their journeys had time to happen. Each transition is written on its own: a run killed half way
    keeps what it stored, and the next run goes on from there; a transition already stored (by an
    earlier or a concurrent run) is never written twice.
    """
    if settle_seconds is None:
        settle_seconds = current_app.config.get("RL_SARS_SETTLE_SECONDS", DEFAULT_SETTLE_SECONDS)
    snapshot_id = snapshot_id or active_snapshot_id()
    if snapshot_id is None:
        raise InvalidInput("no active dataset snapshot to embed services with", {"snapshot_id": "none is active"})
    encoder, users = snapshot_context(snapshot_id)
    table = table or load_reward_table()
    recommendations = ServedRecommendation._get_collection()
    query = _pending_query(settle_seconds)
    total = recommendations.count_documents(query)
    transitions = SarsTransition._get_collection()
    cursor = recommendations.find(query).sort([("created_at", 1), ("_id", 1)]).batch_size(CHUNK)
    stored = seen = 0
    progress("sars", 0.0, pending=total, stored=0)
    while chunk := list(itertools.islice(cursor, CHUNK)):
        done = set(transitions.distinct("_id", {"_id": {"$in": [r["_id"] for r in chunk]}}))
        for record in chunk:
            seen += 1
            if record["_id"] in done:
                continue
            try:
                transitions.insert_one(transition_document(record, encoder, users, table, snapshot_id, k))
            except DuplicateKeyError:  # a concurrent run stored it first
                continue
            stored += 1
            progress("sars", 100.0 * seen / max(total, 1), pending=total, stored=stored)
    return {"stored": stored, "checked": seen, "snapshot_id": snapshot_id,
            "transitions": transitions.count_documents({})}


def regenerate_sars(progress: Progress = no_progress, settle_seconds: float | None = None,
                    snapshot_id: str | None = None, k: int = DEFAULT_K) -> dict:
    """Drop every stored transition and build them all again (e.g. after the reward table changed)."""
    dropped = SarsTransition._get_collection().delete_many({}).deleted_count
    return {"dropped": dropped, **generate_sars(progress, settle_seconds, snapshot_id, k)}


# --- Reading them back -----------------------------------------------------------------

def encode_transition(document: Mapping, encoder: StateEncoder) -> Sars:
    """A stored transition with its vectors computed again from its ids by `encoder`."""
    features = document.get("user_features") or {}
    history = list(document.get("history") or ())
    action_ids = np.asarray(document["action_ids"], np.int64)
    vectors, _ = encoder.embeddings_of(np.where(action_ids >= 0, action_ids, 0))
    action = np.where((action_ids >= 0)[:, None], vectors, 0.0).astype(np.float32)
    return Sars(state=encoder.state(features, history), action_ids=action_ids, action=action,
                reward=float(document["reward"]), item_rewards=np.asarray(document["item_rewards"], np.float32),
                next_state=encoder.state(features, history + list(document.get("clicked") or ())),
                done=bool(document["done"]), propensities=np.asarray(document["propensities"], np.float32))


def stored_transition(document: Mapping) -> Sars:
    """A stored transition as it was encoded when stored."""
    d, k = int(document["embedding_dim"]), len(document["action_ids"])
    vector = lambda name: np.frombuffer(document[name], np.float32).copy()  # noqa: E731
    return Sars(state=vector("state"), action_ids=np.asarray(document["action_ids"], np.int64),
                action=vector("action").reshape(k, d), reward=float(document["reward"]),
                item_rewards=np.asarray(document["item_rewards"], np.float32), next_state=vector("next_state"),
                done=bool(document["done"]), propensities=np.asarray(document["propensities"], np.float32))


def load_transitions(encoder: StateEncoder, k: int = DEFAULT_K) -> SarsBatch | None:
    """Every stored transition with K slots, encoded by `encoder` (None when there are none)."""
    rows = [encode_transition(doc, encoder) for doc in SarsTransition._get_collection().find(
        {}, {"state": 0, "action": 0, "next_state": 0}).sort("recommended_at", 1) if len(doc["action_ids"]) == k]
    return SarsBatch.from_sars(rows) if rows else None
