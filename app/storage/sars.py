"""SARS transitions built from served recommendations and the journeys that followed them.

One document per served recommendation, keyed by the recommendation's id: its
existence is what marks the recommendation processed, so storing a transition
and marking it done are one write. Vectors are float32 bytes (no pickle); the
ingredients they were computed from (history, declared features, clicks) are
kept too, so a trainer can encode them again with another snapshot's embeddings.
"""
from __future__ import annotations

from mongoengine import (
    BinaryField,
    BooleanField,
    DateTimeField,
    DictField,
    Document,
    FloatField,
    IntField,
    ListField,
    StringField,
)

from app.storage.jobs import utcnow


class SarsTransition(Document):
    """(state, action, reward, next state, done) of one served panel."""

    id = StringField(primary_key=True)  # the served recommendation's id
    recommended_at = DateTimeField(required=True)  # when the panel was served
    created_at = DateTimeField(required=True, default=utcnow)
    snapshot_id = StringField()  # whose embeddings encoded the vectors
    user_id = IntField()
    unique_id = StringField()
    visit_id = StringField()
    engine = StringField()
    # Ingredients, as ids: enough to encode the transition again.
    history = ListField(IntField())  # services before the panel, oldest first
    user_features = DictField()  # e.g. {"categories": [3]}
    clicked = ListField(IntField())  # shown services clicked in the panel
    action_ids = ListField(IntField())  # (K,) shown ids, -1 pads a shorter panel
    item_rewards = ListField(FloatField())  # (K,)
    reward = FloatField(required=True)
    done = BooleanField(required=True)
    propensities = ListField(FloatField())  # (K,) NaN where the logging policy's probability is unknown
    # Vectors as float32 bytes: state and next state (2d,), action (K, d).
    state = BinaryField()
    action = BinaryField()
    next_state = BinaryField()
    embedding_dim = IntField()

    meta = {
        "collection": "sars",
        "strict": False,
        # The watermark of incremental generation, reads by snapshot, by user (deletion of a user's data).
        "indexes": ["-recommended_at", "snapshot_id", "user_id", "unique_id"],
    }
