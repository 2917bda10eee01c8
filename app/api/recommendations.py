"""POST /recommendations (the contract's request, unchanged) and POST /scores."""
from __future__ import annotations

from collections.abc import Callable

from flask import request
from flask_restx import Model, Namespace, Resource, fields

from app.api.auth import token_scope
from app.engines.registry import engine_names
from app.recommendations import service
from app.schema_check import UnsupportedSchema, compile_checker
from app.wire.fields import INT64_MAX, NullableString, NullableUuid, Uuid, nullable_id

ns = Namespace("recommendations", path="/recommendations", description="Ranked services for a page")
scores_ns = Namespace("scores", path="/scores", description="Scores of given user-service pairs")


class QuicklyCheckedModel(Model):
    """A request model that recognises a valid payload fast (app/schema_check.py), and lets
    flask-restx name the bad fields of any other. Same schema, same 400.

    flask-restx builds a new jsonschema validator for every request and walks each id of
    a 200-candidate list through jsonschema's keyword machinery: about a tenth of the CPU
    of a request of the mix of benchmarks/serving.py went there."""

    def validate(self, data, resolver=None, format_checker=None):
        if not self._check(format_checker)(data):
            super().validate(data, resolver, format_checker)

    def _check(self, format_checker) -> Callable[[object], bool]:
        compiled = self.__dict__.get("_compiled")
        if compiled is None or compiled[0] is not format_checker:
            compiled = self.__dict__["_compiled"] = (format_checker, self._compile(format_checker))
        return compiled[1]

    def json_schema(self) -> dict:
        """The model's schema with the models it refers to as definitions, as jsonschema reads it."""
        models = {**ns.models, **scores_ns.models}
        return {**self.__schema__, "definitions": {name: model.__schema__ for name, model in models.items()}}

    def _compile(self, format_checker) -> Callable[[object], bool]:
        try:
            return compile_checker(self.json_schema(), format_checker)
        except UnsupportedSchema:  # a keyword the compiled check lacks: jsonschema decides every time
            return lambda data: False


ENGINES = list(engine_names())


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
    "model_version": NullableString(description="extension: model version the engine served from "
                                                "(null for engines without one)"),
    "served_by": fields.List(fields.String(), description="extension: engine of each item (a short panel is "
                                                          "topped up from the next engine of the chain)"),
})
score_request = scores_ns.add_model("ScoreRequest", QuicklyCheckedModel("ScoreRequest", {
    **common,
    "unique_id": Uuid(description="browser session id"),
    "service_ids": ids("services to score", required=True, min_items=1, max_items=10000),
}))

score_response = scores_ns.model("ScoreResponse", {
    "engine_version": fields.String(required=True, description="the engine that scored"),
    "model_version": NullableString(description="its model version (null for engines without one)"),
    "scores": fields.List(fields.Nested(scores_ns.model("ServiceScore", {
        "service_id": fields.Integer(required=True), "score": fields.Float(required=True)})), required=True,
        description="in the order of service_ids"),
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
    @scores_ns.response(200, "one score per service asked for", score_response)
    @scores_ns.response(400, "invalid request")
    def post(self):
        """One score per (user, service) pair from the chosen engine."""
        return service.score(request.get_json())
