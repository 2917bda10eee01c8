"""Deleting one user's interaction data (DELETE /users/<id>).

Removed: the user's actions, events and served recommendations (by user_id),
what shadow variants of experiments computed for them and their per-person experiment
counts (by the person, "user:<id>" and "visitor:<unique id>"),
actions stored under the user's federated identity before it could be resolved,
and the anonymous ones of the browser sessions (unique_ids) seen with the user.
A session's items that belong to another logged-in user stay. The marketplace
dump itself is not touched: the marketplace's next dump decides whether the
user still exists. Model versions that may have learnt from the deleted data
(every candidate and active one) are marked stale.

Deleting is idempotent; anonymous items go first and the user's own last, so a
retry after a failure half-way still finds the sessions to clean up.
"""
from __future__ import annotations

from datetime import datetime, timezone

from app.errors import InvalidInput
from app.marketplace import recent_history
from app.recommendation_log import flush_served
from app.storage.experiments import UnitOutcomes
from app.storage.interactions import DURABLE, Event, ServedRecommendation, ShadowRecommendation, UserAction
from app.storage.marketplace import MarketUser
from app.storage.models import ModelVersion
from app.storage.sars import SarsTransition
from app.wire.fields import INT64_MAX

COLLECTIONS = {"user_actions": UserAction, "events": Event, "recommendations": ServedRecommendation,
               "sars": SarsTransition}
TRAINED_STATUSES = ("candidate", "active")


def _sessions_of(user_id: int, identities: list[str]) -> list[str]:
    sessions = set()
    for document in COLLECTIONS.values():
        sessions.update(document._get_collection().distinct("unique_id", {"user_id": user_id}))
    if identities:
        unresolved = {"aai_uid": {"$in": identities}, "user_id": None}
        sessions.update(UserAction._get_collection().distinct("unique_id", unresolved))
    return sorted(session for session in sessions if session)


def _identities_of(user_id: int) -> list[str]:
    # Every snapshot: an action may predate the dump the user is in now.
    users = MarketUser._get_collection().distinct("aai_uid", {"marketplace_id": user_id})
    return sorted(uid for uid in users if uid)


def _delete(document, query: dict) -> int:
    return document._get_collection().with_options(write_concern=DURABLE).delete_many(query).deleted_count


def mark_models_stale(reason: str) -> int:
    """Mark every candidate and active model version stale; returns how many."""
    return ModelVersion.objects(status__in=TRAINED_STATUSES).update(set__stale=True, set__stale_reason=reason)


def delete_user_data(user_id: int) -> dict:
    """Delete one user's interaction data; returns counts per collection."""
    if not 0 <= user_id <= INT64_MAX:
        raise InvalidInput("no user can have this id", {"user_id": f"must be between 0 and {INT64_MAX}"})
    flush_served()  # this process's queued records of the user must be stored to be deleted
    identities = _identities_of(user_id)
    sessions = _sessions_of(user_id, identities)
    # The Redis copies go before (an unavailable cache fails the request before anything is
    # deleted) and again after (a request may have copied the data back in between).
    recent_history.forget([user_id], sessions)
    deleted = dict.fromkeys(COLLECTIONS, 0)
    # No user_id, and no identity or the user's own (an unresolved identity of someone else stays).
    anonymous = {"unique_id": {"$in": sessions}, "user_id": None, "aai_uid": {"$in": [None, *identities]}}
    for name, document in COLLECTIONS.items():
        deleted[name] += _delete(document, anonymous) if sessions else 0
    for name, document in COLLECTIONS.items():
        deleted[name] += _delete(document, {"user_id": user_id})
    units = [f"user:{user_id}", *(f"visitor:{session.lower()}" for session in sessions)]
    deleted["shadow_recommendations"] = _delete(ShadowRecommendation, {"unit": {"$in": units}})
    deleted["experiment_units"] = _delete(UnitOutcomes, {"unit": {"$in": units}})
    recent_history.forget([user_id], sessions)
    stale = 0
    if any(deleted.values()):
        when = datetime.now(timezone.utc).isoformat(timespec="seconds")
        stale = mark_models_stale(f"data of user {user_id} deleted at {when}")
    return {"user_id": user_id, "deleted": deleted, "models_marked_stale": stale}
