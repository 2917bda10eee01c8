"""What followed served panels, folded slice by slice (app/pipelines/served_outcomes.py):
per hour and engine for the traffic charts, per person for experiments
(app/storage/experiments.UnitOutcomes), and how far the fold has got.

Each counter document remembers the last slice it counted (`last_slice`) and is updated
only by a later one, in one conditional update: a slice folded twice (a retried or a
concurrent run) is counted once. Slices are folded in time order.
"""
from __future__ import annotations

from datetime import datetime

from mongoengine import DateTimeField, Document, IntField, StringField
from pymongo.errors import DuplicateKeyError


class TrafficHour(Document):
    """Panels one engine served in one hour (UTC), and the clicks that followed."""

    id = StringField(primary_key=True)  # "<hour ISO>|<engine>"
    hour = DateTimeField(required=True)
    engine = StringField(required=True)
    panels = IntField(default=0)
    linked_panels = IntField(default=0)  # with a visit id: their clicks can be followed
    clicks = IntField(default=0)  # in the panel
    page_clicks = IntField(default=0)  # every click leaving the page that showed it
    orders = IntField(default=0)  # after a click in the panel
    last_slice = DateTimeField(required=True)

    meta = {"collection": "traffic_hours", "indexes": [("hour", "engine")], "strict": False}


class FoldState(Document):
    """How far the fold has got: every panel served before `through` is counted."""

    id = StringField(primary_key=True, default="served")
    through = DateTimeField()

    meta = {"collection": "fold_state"}


def counted_once(document: type[Document], key: str, slice_start: datetime, increments: dict,
                 fields: dict) -> bool:
    """Add `increments` to `document` `key` unless it counted `slice_start` (or a later slice)
    already; `fields` are set when the document is new. Whether it counted now."""
    try:
        # Through the class's collection: mongoengine makes its indexes on first use.
        document._get_collection().update_one(
            {"_id": key, "last_slice": {"$lt": slice_start}},
            {"$inc": increments, "$set": {"last_slice": slice_start}, "$setOnInsert": fields},
            upsert=True,
        )
        return True
    except DuplicateKeyError:  # it exists and counted this slice: the upsert tried to insert it again
        return False


def fold_through() -> datetime | None:
    state = FoldState.objects(id="served").first()
    return state.through if state else None


def folded_through(moment: datetime) -> None:
    FoldState.objects(id="served").update_one(set__through=moment, upsert=True)
