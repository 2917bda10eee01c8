"""POST /recommendations (the contract's request, unchanged) and POST /scores."""
from __future__ import annotations

from flask import request
from flask_restx import Model, Namespace, Resource, fields
from jsonschema.validators import validator_for

from app.api.auth import token_scope
from app.recommendations import service
from app.wire_fields import INT64_MAX, NullableString, NullableUuid, Uuid, nullable_id

ns = Namespace("recommendations", path="/recommendations", description="Ranked services for a page")
scores_ns = Namespace("scores", path="/scores", description="Scores of given user-service pairs")

# Keywords an id list may use for the plain-Python check below; annotations are ignored.
_ID_LIST_KEYWORDS = {"type", "items", "minItems", "maxItems", "description", "example"}
_ID_KEYWORDS = {"type", "minimum", "maximum", "description", "example"}


def _id_list_check(schema: dict):
    """A function telling whether a value is valid against an "array of bounded integers"
    schema, or None for any other schema. Conservative: it may refuse a valid list (e.g.
    3.0 for 3), never accept an invalid one."""
    items = schema.get("items", {})
    if (schema.get("type") != "array" or set(schema) - _ID_LIST_KEYWORDS
            or items.get("type") != "integer" or set(items) - _ID_KEYWORDS):
        return None
    low, high = items.get("minimum", float("-inf")), items.get("maximum", float("inf"))
    shortest, longest = schema.get("minItems", 0), schema.get("maxItems", float("inf"))
    return lambda value: (type(value) is list and shortest <= len(value) <= longest
                          and all(type(x) is int and low <= x <= high for x in value))


class QuicklyCheckedModel(Model):
    """A request model that recognises a valid payload fast, and lets flask-restx name the
    bad fields of any other. Same schema, same 400.

    flask-restx builds a new jsonschema validator for every request, and jsonschema walks
    each id of a 200-candidate list through its keyword machinery: 0.23 ms at the median
    and 1.96 ms at p95 over the request mix of benchmarks/serving.py, against 0.09 and
    0.14 ms with the validator built once and id lists checked by a plain loop."""

    def validate(self, data, resolver=None, format_checker=None):
        if not self._valid(data, format_checker):
            super().validate(data, resolver, format_checker)

    def _valid(self, data, format_checker) -> bool:
        compiled = self.__dict__.get("_compiled")
        if compiled is None or compiled[0] is not format_checker:
            compiled = self.__dict__["_compiled"] = (format_checker, *self._compile(format_checker))
        _, rest, id_lists = compiled
        if type(data) is not dict:
            return False
        for key, check in id_lists.items():
            if key in data and not check(data[key]):
                return False
        try:
            return rest.is_valid({key: value for key, value in data.items() if key not in id_lists})
        except Exception:  # e.g. a $ref to a model of another namespace: let flask-restx decide
            return False

    def _compile(self, format_checker):
        schema = self.__schema__
        id_lists = {key: check for key, sub in schema.get("properties", {}).items()
                    if (check := _id_list_check(sub)) is not None}
        rest = {**schema, "properties": {k: v for k, v in schema["properties"].items() if k not in id_lists},
                "definitions": {name: model.__schema__ for name, model in ns.models.items()}}
        return validator_for(rest)(rest, format_checker=format_checker), id_lists


ENGINES = ["NCF", "NCFRanking", "RL", "Random", "RandomRanking", "Popularity", "Session"]


def ids(description: str, **kwargs):
    return fields.List(fields.Integer(min=0, max=INT64_MAX), description=description, **kwargs)


search_data = ns.model("SearchData", {
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
session_event = ns.model("SessionEvent", {
    "service_id": fields.Integer(required=True, min=0, max=INT64_MAX),
    "type": fields.String(required=True, max_length=32, example="view"),
    "timestamp": fields.DateTime(required=True),
})
user_features = ns.model("UserFeatures", {"categories": ids(""), "scientific_domains": ids("")})
common = {
    "user_id": nullable_id("logged-in marketplace user"),
    "aai_uid": NullableString(max_length=256, description="resolved to user_id when user_id is absent"),
    "unique_id": Uuid(required=True, description="browser session id, anonymous visitors too"),
    "engine_version": NullableString(max_length=32, example="NCF", description=f"one of {', '.join(ENGINES)}"),
    "session": fields.List(fields.Nested(session_event), max_items=200,
                           description="extension: the visitor's latest events, used at once"),
    "user_features": fields.Nested(user_features, description="extension: features of a user not in the dump"),
}
recommendation_request = ns.add_model("RecommendationRequest", QuicklyCheckedModel("RecommendationRequest", {
    **common,
    "client_id": NullableString(enum=["marketplace", "search_service", "user_dashboard", "undefined", None]),
    "timestamp": fields.DateTime(required=True),
    "visit_id": NullableUuid(required=True, description="the visit showing the panel (or null)"),
    "page_id": fields.String(required=True, max_length=2048, example="/services"),
    "panel_id": NullableString(enum=["v1", "v2", "service", "", None], description="v1: 3 items, v2: 2"),
    "candidates": ids("the caller's pre-selected services; empty = all recommendable", max_items=10000),
    "search_data": fields.Nested(search_data, required=True, description="filters; may be {}"),
    "k": fields.Integer(min=1, max=100, description="extension: number of items, overrides panel_id"),
    "exclude": ids("extension: never return these", max_items=10000),
}))
recommendation_response = ns.model("RecommendationResponse", {
    "panel_id": fields.String(),
    "recommendations": fields.List(fields.Integer()),
    "scores": fields.List(fields.Float()),
    "explanations": fields.List(fields.String()),
    "explanations_short": fields.List(fields.String()),
    "engine_version": fields.String(description="the engine that really served"),
    "recommendation_id": fields.String(description="extension: id of the served-recommendation log entry"),
    "model_version": fields.String(description="extension: model version the engine served from"),
    "served_by": fields.List(fields.String(), description="extension: engine of each item (a short panel is "
                                                          "topped up from the next engine of the chain)"),
})
score_request = scores_ns.model("ScoreRequest", {
    **common,
    "unique_id": Uuid(description="browser session id"),
    "service_ids": ids("services to score", required=True, min_items=1, max_items=10000),
})


@ns.route("")
class Recommendations(Resource):
    @token_scope("recommend")
    @ns.doc(security="bearer")
    @ns.expect(recommendation_request)
    @ns.response(200, "ranked services", recommendation_response)
    @ns.response(400, "invalid request")
    def post(self):
        """Recommend services for a page (a panel, or a ranking of candidates)."""
        return service.recommend(request.get_json())


@scores_ns.route("")
class Scores(Resource):
    @token_scope("recommend")
    @scores_ns.doc(security="bearer")
    @scores_ns.expect(score_request)
    @scores_ns.response(400, "invalid request")
    def post(self):
        """One score per (user, service) pair from the chosen engine."""
        return service.score(request.get_json())
