"""The model registry: one document per trained model version, weights in GridFS."""
from __future__ import annotations

from mongoengine import (
    BooleanField,
    DateTimeField,
    DictField,
    Document,
    FloatField,
    IntField,
    ObjectIdField,
    StringField,
)

from app.engines.registry import model_kind_names, model_of_engine
from app.storage.jobs import utcnow

# Engines served from a trained model version → the model they need (app/engines/registry.py).
# One NCF version serves both the top-k and the ranking engine.
ENGINE_OF_MODEL = model_of_engine()
MODEL_ENGINES = tuple(ENGINE_OF_MODEL)
MODEL_KINDS = model_kind_names()
MODEL_STATUSES = ("candidate", "active", "retired", "rejected")


class ModelVersion(Document):
    engine = StringField(required=True, choices=MODEL_KINDS)
    status = StringField(required=True, default="candidate", choices=MODEL_STATUSES)
    dataset_id = StringField()  # the snapshot it was trained on
    config = DictField()  # hyperparameters, as saved beside the weights
    params = DictField()  # what loading needs besides the arrays (shapes, id maps' sizes...)
    metrics = DictField()
    weights_file_id = ObjectIdField()  # safetensors bytes in GridFS
    weights_sha256 = StringField()
    weights_bytes = IntField()
    plots = DictField()  # plot name → GridFS file id of a PNG
    code_version = StringField()
    job_id = StringField()
    training_seconds = FloatField()
    created_at = DateTimeField(required=True, default=utcnow)
    activated_at = DateTimeField()
    # Set when data it may have learnt from was deleted (DELETE /users/<id>): retrain.
    stale = BooleanField(default=False)
    stale_reason = StringField()
    retired_at = DateTimeField()

    meta = {
        "collection": "model_versions",
        "indexes": [
            ("engine", "status", "-activated_at"),
            "-created_at",
            "dataset_id",
            # An engine's versions of one snapshot, newest first (the measured default engine).
            ("engine", "dataset_id", "-created_at"),
        ],
    }


class RegistryState(Document):
    """A counter bumped at every activation: API processes poll it to swap engines."""

    id = StringField(primary_key=True, default="models")
    stamp = IntField(required=True, default=0)

    meta = {"collection": "registry_state"}


def active_engines() -> set[str]:
    """Names of the engines whose model has an active version."""
    # One lookup per kind on the (engine, status) prefix of the index: a query on the
    # status alone scans the collection.
    versions = ModelVersion._get_collection()
    active = {kind for kind in MODEL_KINDS if versions.find_one({"engine": kind, "status": "active"}, {"_id": 1})}
    return {name for name, model in ENGINE_OF_MODEL.items() if model in active}
