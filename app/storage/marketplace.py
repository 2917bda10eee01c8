"""The marketplace's own data as dumps deliver it, one copy per dataset snapshot.

`marketplace_id` is the integer id in the marketplace's database; it is unique
only within a snapshot. Ingestion writes these collections in bulk with pymongo;
the classes declare the fields and indexes and serve reads.

Every index costs each insert its share (SecantusDB: ~17k documents/s without a
secondary index, ~6k/s with one, ~4k/s with two), so the two big collections
carry fewer: a user's `_id` is "<snapshot_id>:<marketplace_id>", which keeps ids
unique per snapshot without a second unique index, and projects are stored in
groups of PROJECTS_PER_DOCUMENT, which nothing reads one by one.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from mongoengine import (
    BooleanField,
    DictField,
    Document,
    IntField,
    ListField,
    StringField,
)

from app.dump_contract import RECOMMENDABLE_STATUSES
from app.storage import pacing
from app.storage.connection import database

WRITE_BATCH = 5000  # dump items per insert_many / key values per ranged delete
PROJECTS_PER_DOCUMENT = 1000  # ~70 KB of BSON per group: far below the 16 MB limit


_UNIQUE_PER_SNAPSHOT = {"fields": ["snapshot_id", "marketplace_id"], "unique": True}


class MarketplaceDocument(Document):
    snapshot_id = StringField(required=True)
    marketplace_id = IntField(required=True)

    # Indexes are declared per class: an abstract class's indexes are merged into
    # every subclass's, and users must not have this one.
    meta = {"abstract": True}


class NamedDocument(MarketplaceDocument):
    name = StringField()
    description = StringField()

    meta = {"abstract": True, "indexes": [_UNIQUE_PER_SNAPSHOT]}


class Service(MarketplaceDocument):
    pid = StringField()
    name = StringField()
    description = StringField()
    tagline = StringField()
    countries = ListField(StringField())
    order_type = StringField()
    rating = StringField()
    horizontal = BooleanField()
    status = StringField()
    recommendable = BooleanField(required=True)  # status in RECOMMENDABLE_STATUSES
    categories = ListField(IntField())
    providers = ListField(IntField())
    resource_organisation = IntField()
    scientific_domains = ListField(IntField())
    platforms = ListField(IntField())
    target_users = ListField(IntField())
    related_services = ListField(IntField())
    required_services = ListField(IntField())
    access_types = ListField(IntField())
    access_modes = ListField(IntField())
    trls = ListField(IntField())
    life_cycle_statuses = ListField(IntField())
    research_steps = ListField(IntField())

    meta = {"collection": "services", "indexes": [_UNIQUE_PER_SNAPSHOT, ("snapshot_id", "recommendable")]}


class MarketUser(MarketplaceDocument):
    # "<snapshot_id>:<marketplace_id>" (user_key): unique per snapshot through the
    # _id index, so users need no (snapshot_id, marketplace_id) index of their own.
    id = StringField(primary_key=True)
    aai_uid = StringField()
    scientific_domains = ListField(IntField())
    categories = ListField(IntField())
    accessed_services = ListField(IntField())  # in the order the user took them

    # Reads by snapshot (all its users) use this index's prefix; deletions go by
    # ranges of aai_uid within a snapshot.
    meta = {"collection": "users", "indexes": [("snapshot_id", "aai_uid")]}


class ProjectGroup(MarketplaceDocument):
    """Up to PROJECTS_PER_DOCUMENT consecutive projects of a dump in one document:
    nothing reads a project by itself, and one document per project made projects
    the slowest part of an ingestion. `marketplace_id` is the first project's id,
    which keeps groups unique per snapshot and deletable by ranges like the rest."""

    projects = ListField(DictField())  # {"marketplace_id", "user_id", "services"} each, in dump order

    meta = {"collection": "projects", "indexes": [_UNIQUE_PER_SNAPSHOT]}


class Category(NamedDocument):
    meta = {"collection": "categories"}


class ScientificDomain(NamedDocument):
    meta = {"collection": "scientific_domains"}


class Platform(NamedDocument):
    meta = {"collection": "platforms"}


class Provider(NamedDocument):
    pid = StringField()

    meta = {"collection": "providers"}


class TargetUser(NamedDocument):
    meta = {"collection": "target_users"}


class AccessMode(NamedDocument):
    meta = {"collection": "access_modes"}


class AccessType(NamedDocument):
    meta = {"collection": "access_types"}


class Trl(NamedDocument):
    meta = {"collection": "trls"}


class LifeCycleStatus(NamedDocument):
    meta = {"collection": "life_cycle_statuses"}


class ResearchStep(NamedDocument):
    meta = {"collection": "research_steps"}


# Dump key → the document class its items are stored as.
DUMP_COLLECTIONS = {
    "services": Service,
    "users": MarketUser,
    "projects": ProjectGroup,
    "categories": Category,
    "scientific_domains": ScientificDomain,
    "platforms": Platform,
    "providers": Provider,
    "target_users": TargetUser,
    "access_modes": AccessMode,
    "access_types": AccessType,
    "trls": Trl,
    "life_cycle_statuses": LifeCycleStatus,
    "research_steps": ResearchStep,
}


# Fields every stored document has besides the dump item's own.
_BOOKKEEPING = {"id", "snapshot_id", "marketplace_id", "recommendable"}


def _item_fields(cls: type[MarketplaceDocument]) -> tuple[tuple[str, object], ...]:
    """(field, value when the item lacks it) for the fields a dump item fills."""
    return tuple(
        (name, [] if isinstance(field, ListField) else None)
        for name, field in cls._fields.items() if name not in _BOOKKEEPING
    )


_ITEM_FIELDS = {key: _item_fields(cls) for key, cls in DUMP_COLLECTIONS.items()}
_ITEM_FIELDS["projects"] = (("user_id", None), ("services", []))  # of each project in a group


def user_key(snapshot_id: str, marketplace_id: int) -> str:
    """The `_id` of a user document (snapshot ids never contain ":")."""
    return f"{snapshot_id}:{marketplace_id}"


def to_document(key: str, item: dict, snapshot_id: str) -> dict:
    """The stored form of one dump item: its declared fields only (extra keys are
    dropped), keyed by snapshot and marketplace id. A project's form is an entry
    of its group (see project_group)."""
    document = {"snapshot_id": snapshot_id, "marketplace_id": item["id"]}
    for name, missing in _ITEM_FIELDS[key]:
        document[name] = item.get(name, missing)
    if key == "services":
        document["recommendable"] = document["status"] in RECOMMENDABLE_STATUSES
    elif key == "users":
        document["_id"] = user_key(snapshot_id, item["id"])
    return document


def project_group(projects: list[dict], snapshot_id: str) -> dict:
    """The stored form of consecutive projects of a dump: one document."""
    entries = []
    for item in projects:
        entry = {"marketplace_id": item["id"]}
        for name, missing in _ITEM_FIELDS["projects"]:
            entry[name] = item.get(name, missing)
        entries.append(entry)
    return {"snapshot_id": snapshot_id, "marketplace_id": projects[0]["id"], "projects": entries}


def document_batches(dump: dict, snapshot_id: str, size: int = WRITE_BATCH
                     ) -> Iterator[tuple[str, list[dict], int]]:
    """(dump key, documents, dump items they hold) in batches of about `size` items
    for insert_many, collection by collection."""
    for key in DUMP_COLLECTIONS:
        items = dump[key]
        if key == "projects":
            per_batch = max(1, size // PROJECTS_PER_DOCUMENT) * PROJECTS_PER_DOCUMENT
            for start in range(0, len(items), per_batch):
                chunk = items[start:start + per_batch]
                groups = [project_group(chunk[first:first + PROJECTS_PER_DOCUMENT], snapshot_id)
                          for first in range(0, len(chunk), PROJECTS_PER_DOCUMENT)]
                yield key, groups, len(chunk)
            continue
        for start in range(0, len(items), size):
            batch = [to_document(key, item, snapshot_id) for item in items[start:start + size]]
            yield key, batch, len(batch)


def collection_of(key: str):
    """The pymongo collection of a dump key (its indexes are ensured on first use)."""
    return DUMP_COLLECTIONS[key]._get_collection()


def count_items(key: str, snapshot_id: str) -> int:
    """Dump items stored for a snapshot under a dump key (projects: inside their groups;
    a project stored alone, as earlier versions did, counts as one)."""
    collection = collection_of(key)
    if key != "projects":
        return collection.count_documents({"snapshot_id": snapshot_id})
    total = collection.aggregate([
        {"$match": {"snapshot_id": snapshot_id}},
        {"$group": {"_id": None, "items": {"$sum": {"$size": {"$ifNull": ["$projects", [None]]}}}}},
    ])
    return next(iter(total), {"items": 0})["items"]


# The indexed field (after snapshot_id) whose ranges bulk readers walk: users carry no
# (snapshot_id, marketplace_id) index (it slowed every insert), but their aai_uid is indexed.
WINDOW_FIELD = {"services": "marketplace_id", "users": "aai_uid"}


def window_bounds(values: Iterable, size: int | None = None) -> list:
    """Values that cut `values` (ids or aai_uids), sorted and each once, into windows of `size`:
    [b0, b1), [b1, b2), ..., and the last window [b(n-1), b(n)] includes its end (the largest
    value, which may be the largest int64, so no bound lies past it). [] for no values.
    `size` is pacing.WINDOW_DOCS by default."""
    size = size or pacing.WINDOW_DOCS
    ordered = sorted(set(values))
    if not ordered:
        return []
    return ordered[::size] + [ordered[-1]]


def read_in_windows(key: str, snapshot_id: str, bounds: list | None, projection: dict) -> Iterator[dict]:
    """Every document of a snapshot under a dump key of WINDOW_FIELD, window by window over its
    field when the snapshot's `bounds` (window_bounds at ingestion) are known, resting after each
    window (app/storage/pacing.py); else in one read, as for a snapshot stored before bounds were
    kept. Users without an aai_uid come last, in a read of their own."""
    collection, field = collection_of(key), WINDOW_FIELD[key]
    if not bounds:
        yield from collection.find({"snapshot_id": snapshot_id}, projection)
        return
    last = len(bounds) - 1
    ranges = [{"$gte": low, ("$lte" if number == last else "$lt"): high}
              for number, (low, high) in enumerate(zip(bounds, bounds[1:]), start=1)]
    for window in [*ranges, None] if key == "users" else ranges:
        began = time.perf_counter()
        documents = list(collection.find({"snapshot_id": snapshot_id, field: window}, projection))
        pacing.rest_after(time.perf_counter() - began)
        yield from documents


# The indexed field (after snapshot_id) whose ranges delete a snapshot's documents,
# and the type of its values.
_RANGE_FIELD = {key: ("aai_uid", str) if key == "users" else ("marketplace_id", int) for key in DUMP_COLLECTIONS}

# Indexes earlier versions declared and these classes no longer do: each one only
# slows every insert.
RETIRED_INDEXES = {"users": "snapshot_id_1_marketplace_id_1"}
# The same for other collections, by name: the served log's person indexes now end in created_at.
RETIRED_COLLECTION_INDEXES = {"recommendations": ("user_id_1", "unique_id_1")}


def drop_retired_indexes() -> None:
    """Drop the retired indexes a database created by an earlier version still has.
    Called by the writer-lease holder before it writes."""
    for key, name in RETIRED_INDEXES.items():
        collection = collection_of(key)
        if name in collection.index_information():
            collection.drop_index(name)
    for collection_name, names in RETIRED_COLLECTION_INDEXES.items():
        collection = database()[collection_name]
        for name in set(names) & set(collection.index_information()):
            collection.drop_index(name)


def delete_snapshot_documents(snapshot_id: str, go_on: Callable[[], bool] = lambda: True,
                              size: int = WRITE_BATCH) -> bool:
    """Delete every document of a snapshot, one range of an indexed field at a time
    (a large `$in` or one huge delete would hold the database for long; SecantusDB
    answers an `$in` of ids, or a range of `_id`, by scanning the collection). After
    each range `go_on()` may stop it: returns False then, True when all are gone."""
    for key in DUMP_COLLECTIONS:
        collection = collection_of(key)
        field, kind = _RANGE_FIELD[key]
        cursor = collection.find({"snapshot_id": snapshot_id}, {field: 1, "_id": 0})
        values = sorted({value for document in cursor
                         if isinstance(value := document.get(field), kind) and not isinstance(value, bool)})
        for start in range(0, len(values), size):
            first, last = values[start], values[min(start + size, len(values)) - 1]
            collection.delete_many({"snapshot_id": snapshot_id, field: {"$gte": first, "$lte": last}})
            if not go_on():
                return False
        # Whatever has no such value (a user without aai_uid) is left: a few at most.
        collection.delete_many({"snapshot_id": snapshot_id})
    return True
