"""The marketplace's own data as dumps deliver it, one copy per dataset snapshot.

`marketplace_id` is the integer id in the marketplace's database; it is unique
only within a snapshot. Ingestion writes these collections in bulk with pymongo;
the classes declare the fields and indexes and serve reads.
"""
from __future__ import annotations

from mongoengine import BooleanField, Document, IntField, ListField, StringField

RECOMMENDABLE_STATUSES = ("published", "unverified")


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

    meta = {"collection": "projects", "indexes": [("snapshot_id", "user_id")]}


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
