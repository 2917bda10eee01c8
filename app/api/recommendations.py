"""POST /recommendations (the contract's request, unchanged) and POST /scores.

The requests' models and their check live in app/wire/recommendation_requests.py;
flask-restx runs the check for `@ns.expect` (the API validates by default)."""
from __future__ import annotations

from flask import request
from flask_restx import Namespace, Resource, fields

from app.api.auth import token_scope
from app.recommendations import service
from app.wire.checked_model import register
from app.wire.fields import NullableInteger, NullableString
from app.wire.recommendation_requests import RECOMMENDATION_REQUEST, SCORE_REQUEST

ns = Namespace("recommendations", path="/recommendations", description="Ranked services for a page")
scores_ns = Namespace("scores", path="/scores", description="Scores of given user-service pairs")
register(ns, RECOMMENDATION_REQUEST)
register(scores_ns, SCORE_REQUEST)

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
    "experiment": NullableString(description="extension: the running experiment that served this request "
                                             "(null: none, or the request named its engine)"),
    "variant": NullableString(description="extension: its variant this person sees (always the same one)"),
    "context_service_id": NullableInteger(description="extension: the service the panel is shown beside (from "
                                                      "context_service_id or the page_id's slug), never returned; "
                                                      "null on other pages"),
    "objective": fields.String(description="extension: what the services were chosen for: the next click, "
                                           "cart or order"),
})
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
    @ns.expect(RECOMMENDATION_REQUEST)
    @ns.response(200, "ranked services", recommendation_response)
    @ns.response(400, "invalid request")
    def post(self):
        """Recommend services for a page (a panel, or a ranking of candidates)."""
        return service.recommend(request.get_json())


@scores_ns.route("")
class Scores(Resource):
    @token_scope("recommend")
    @scores_ns.doc(security="bearer")
    @scores_ns.expect(SCORE_REQUEST)
    @scores_ns.response(200, "one score per service asked for", score_response)
    @scores_ns.response(400, "invalid request")
    def post(self):
        """One score per (user, service) pair from the chosen engine."""
        return service.score(request.get_json())
