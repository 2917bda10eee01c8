"""The model registry: one document per trained model version, weights in GridFS."""
from __future__ import annotations

from mongoengine import DateTimeField, DictField, Document, StringField

from app.storage.jobs import utcnow

# Engines that serve from a trained model version (the others need no training).
MODEL_ENGINES = ("NCF", "NCFRanking", "RL")
# An NCF version serves both the top-k and the ranking engine.
ENGINE_OF_MODEL = {"NCF": "NCF", "NCFRanking": "NCF", "RL": "RL"}
MODEL_STATUSES = ("candidate", "active", "retired", "stale")


class ModelVersion(Document):
    engine = StringField(required=True, choices=("NCF", "RL"))
    status = StringField(required=True, default="candidate", choices=MODEL_STATUSES)
    dataset_id = StringField()
    config = DictField()
    metrics = DictField()
    created_at = DateTimeField(required=True, default=utcnow)
    activated_at = DateTimeField()

    meta = {"collection": "model_versions", "indexes": [("engine", "status"), "-created_at"]}


def active_engines() -> set[str]:
    """Names of the engines whose model has an active version."""
    active = set(ModelVersion.objects(status="active").distinct("engine"))
    return {name for name, model in ENGINE_OF_MODEL.items() if model in active}
