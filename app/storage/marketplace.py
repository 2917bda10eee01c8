"""The marketplace's own data as dumps deliver it, one copy per dataset snapshot.

`marketplace_id` is the integer id in the marketplace's database; it is unique
only within a snapshot. Ingestion writes these collections in bulk with pymongo;
the classes declare the fields and indexes and serve reads.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

from mongoengine import BooleanField, Document, IntField, ListField, StringField

RECOMMENDABLE_STATUSES = ("published", "unverified")
WRITE_BATCH = 5000  # documents per insert_many / ids per ranged delete


class MarketplaceDocument(Document):
    snapshot_id = StringField(required=True)
    marketplace_id = IntField(required=True)

    meta = {
        "abstract": True,
        "indexes": [{"fields": ["snapshot_id", "marketplace_id"], "unique": True}],
    }


class NamedDocument(MarketplaceDocument):
    name = StringField()
    description = StringField()

    meta = {"abstract": True}


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

    meta = {"collection": "services", "indexes": [("snapshot_id", "recommendable")]}


class MarketUser(MarketplaceDocument):
    aai_uid = StringField()
    scientific_domains = ListField(IntField())
    categories = ListField(IntField())
    accessed_services = ListField(IntField())  # in the order the user took them

    meta = {"collection": "users", "indexes": [("snapshot_id", "aai_uid")]}


class Project(MarketplaceDocument):
    user_id = IntField()
    services = ListField(IntField())

    # No index on user_id: projects are read whole per snapshot (the unique index's
    # prefix), and each extra index slows ingestion by about a third on SecantusDB.
    meta = {"collection": "projects"}


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
    "projects": Project,
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


def to_document(key: str, item: dict, snapshot_id: str) -> dict:
    """The stored form of one dump item: its declared fields only (extra keys are
    dropped), keyed by snapshot and marketplace id."""
    document = {"snapshot_id": snapshot_id, "marketplace_id": item["id"]}
    for name, missing in _ITEM_FIELDS[key]:
        document[name] = item.get(name, missing)
    if key == "services":
        document["recommendable"] = document["status"] in RECOMMENDABLE_STATUSES
    return document


def document_batches(dump: dict, snapshot_id: str, size: int = WRITE_BATCH) -> Iterator[tuple[str, list[dict]]]:
    """(dump key, documents) in batches for insert_many, collection by collection."""
    for key in DUMP_COLLECTIONS:
        items = dump[key]
        for start in range(0, len(items), size):
            yield key, [to_document(key, item, snapshot_id) for item in items[start:start + size]]


def collection_of(key: str):
    """The pymongo collection of a dump key (its indexes are ensured on first use)."""
    return DUMP_COLLECTIONS[key]._get_collection()


def delete_snapshot_documents(snapshot_id: str, go_on: Callable[[], bool] = lambda: True,
                              size: int = WRITE_BATCH) -> bool:
    """Delete every document of a snapshot, one range of ids at a time (a large
    `$in` or one huge delete would hold the database for long). After each range
    `go_on()` may stop it: returns False then, True when all are gone."""
    for key in DUMP_COLLECTIONS:
        collection = collection_of(key)
        cursor = collection.find({"snapshot_id": snapshot_id}, {"marketplace_id": 1, "_id": 0})
        ids = sorted(document["marketplace_id"] for document in cursor)
        for start in range(0, len(ids), size):
            first, last = ids[start], ids[min(start + size, len(ids)) - 1]
            collection.delete_many({"snapshot_id": snapshot_id, "marketplace_id": {"$gte": first, "$lte": last}})
            if not go_on():
                return False
    return True
