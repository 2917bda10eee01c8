"""The body of POST /experiments: a name, the requests it takes (scope) and its variants.

The schema checks each field's type and range; the rules that span fields (shares
summing to 1, one control, a model version of the variant's engine) are checked by
app/experiment_registry.py, which names the field too."""
from __future__ import annotations

from flask_restx import Model, fields

from app.engines.registry import CATALOGUE, ENGINES
from app.wire.checked_model import CheckedModel
from app.wire.fields import NullableString

# A variant serves a panel: the engines that rank every candidate are asked for by name only, and
# Similar answers only requests with a context service, which experiments do not take
# (docs/similar-services.md#experiments).
PANEL_ENGINES = [entry.name for entry in ENGINES if not entry.ranking and entry.model != CATALOGUE]
PANELS = ["v1", "v2"]
MAX_VARIANTS = 10

SCOPE = Model("ExperimentScope", {
    "page_id": NullableString(min_length=1, max_length=512, description="only requests of this page_id "
                                                                         "(exact match); null: any page"),
    "panel_id": NullableString(enum=[*PANELS, None], description="only requests of this panel (a missing, "
                                                                 "empty or `service` panel_id is v1); "
                                                                 "null: any panel"),
})
VARIANT = Model("ExperimentVariant", {
    "name": fields.String(required=True, min_length=1, max_length=64, pattern=r"^[^$.|]+$",
                          description="unique within the experiment (no $, dot or |)", example="ncf"),
    "engine": fields.String(required=True, enum=PANEL_ENGINES, description="the engine that serves it"),
    "model_version": NullableString(min_length=1, max_length=64,
                                    description="pin a model version of that engine (e.g. a candidate); "
                                                "null: the engine's active version"),
    "share": fields.Float(min=0, max=1, description="share of the experiment's traffic; the shown "
                                                    "variants' shares sum to 1; 0 or absent for a shadow"),
    "control": fields.Boolean(default=False, description="the variant the others are compared with "
                                                         "(exactly one, not a shadow)"),
    "shadow": fields.Boolean(default=False, description="computed and logged for every request of the "
                                                        "experiment, never shown"),
})
EXPERIMENT_REQUEST = CheckedModel("ExperimentRequest", {
    "name": fields.String(required=True, min_length=1, max_length=200, example="NCF against Popularity"),
    "scope": fields.Nested(SCOPE, description="which requests it takes; {} takes every panel request"),
    "variants": fields.List(fields.Nested(VARIANT), required=True, min_items=2, max_items=MAX_VARIANTS),
})
