"""The requests of POST /recommendations (the contract's, unchanged) and POST /scores.

Both are CheckedModels: flask-restx validates them (`@ns.expect`) through their
compiled check. flask-restx alone built a jsonschema validator for every request
and walked each id of a 200-candidate list through jsonschema's keyword machinery:
about a tenth of the CPU of a request of the mix of benchmarks/serving.py.
"""
from __future__ import annotations

from flask_restx import Model, fields

from app.engines.interactions import DEFAULT_OBJECTIVE, OBJECTIVES
from app.engines.registry import engine_names
from app.wire.checked_model import CheckedModel
from app.wire.fields import INT64_MAX, NullableFloat, NullableInteger, NullableString, NullableUuid, Uuid, nullable_id

ENGINES = list(engine_names())


def ids(description: str, **kwargs) -> fields.List:
    return fields.List(fields.Integer(min=0, max=INT64_MAX), description=description, **kwargs)


SEARCH_DATA = Model("SearchData", {
    "q": NullableString(max_length=512, description="words matched in name, tagline, description"),
    "categories": ids("OR within a facet, AND across facets"),
    "geographical_availabilities": fields.List(fields.String(max_length=64)),
    "order_type": NullableString(max_length=64),
    "providers": ids(""),
    "rating": NullableString(max_length=16),
    "related_platforms": ids(""),
    "scientific_domains": ids(""),
    "sort": NullableString(max_length=64),
    "target_users": ids(""),
})
SESSION_EVENT = Model("SessionEvent", {
    "service_id": fields.Integer(required=True, min=0, max=INT64_MAX),
    "type": fields.String(required=True, max_length=32, example="view"),
    "timestamp": fields.DateTime(required=True),
})
USER_FEATURES = Model("UserFeatures", {"categories": ids(""), "scientific_domains": ids("")})
# Who asks, and what they just did: the fields both requests share.
_COMMON = {
    "user_id": nullable_id("logged-in marketplace user"),
    "aai_uid": NullableString(max_length=256, description="resolved to user_id when user_id is absent"),
    "unique_id": Uuid(required=True, description="browser session id, anonymous visitors too"),
    "engine_version": NullableString(max_length=32, example="NCF", description=f"one of {', '.join(ENGINES)}"),
    "session": fields.List(fields.Nested(SESSION_EVENT), max_items=200,
                           description="extension: the visitor's latest events, used at once"),
    "user_features": fields.Nested(USER_FEATURES, description="extension: features of a user not in the dump"),
    "objective": NullableString(enum=[*OBJECTIVES, None], description="extension: what the services are for, the "
                                                                      "visitor's next click, cart or order; null: "
                                                                      f"{DEFAULT_OBJECTIVE}"),
}
RECOMMENDATION_REQUEST = CheckedModel("RecommendationRequest", {
    **_COMMON,
    "client_id": NullableString(enum=["marketplace", "search_service", "user_dashboard", "undefined", None]),
    "timestamp": fields.DateTime(required=True),
    "visit_id": NullableUuid(required=True, description="the visit showing the panel (or null)"),
    "page_id": fields.String(required=True, max_length=2048, example="/services"),
    "panel_id": NullableString(enum=["v1", "v2", "service", "", None], description="v1: 3 items, v2: 2"),
    "candidates": ids("the caller's pre-selected services; empty = all recommendable", max_items=10000),
    "search_data": fields.Nested(SEARCH_DATA, required=True, description="filters; may be {}"),
    "k": fields.Integer(min=1, max=100, description="extension: number of items, overrides panel_id"),
    "exclude": ids("extension: never return these", max_items=10000),
    # Extensions that shape a panel (app/engines/reranking.py); absent or null keeps the engine's order.
    "diversity": NullableFloat(min=0, max=1, description="extension: 0 (the engine's order) to 1 (variety of "
                                                         "categories and providers first)"),
    "max_per_provider": NullableInteger(min=1, max=100, description="extension: at most this many services of "
                                                                    "one provider in the panel"),
    "rotation": NullableFloat(min=0, max=1, description="extension: 0 to 1, how far services shown to this "
                                                        "person before without a click move down"),
    "context_service_id": nullable_id("extension: the service whose page shows the panel: similar services answer "
                                      "(unless engine_version names another engine) and it is never returned; "
                                      "a page_id /services/<slug> of a known service means the same"),
})
SCORE_REQUEST = CheckedModel("ScoreRequest", {
    **_COMMON,
    "unique_id": Uuid(description="browser session id"),
    "service_ids": ids("services to score", required=True, min_items=1, max_items=10000),
})
