"""GET /services/<id>/similar: the services most like one service, for back ends that want the list alone."""
from __future__ import annotations

from flask import request
from flask_restx import Namespace, Resource, fields

from app.api.auth import token_scope
from app.api.integers import integer_in
from app.recommendations.similar_services import similar_to
from app.wire.fields import NullableString

ns = Namespace("services", path="/services", description="Services of the catalogue served")

similar_service = ns.model("SimilarService", {
    "service_id": fields.Integer(required=True),
    "score": fields.Float(required=True, description="higher is more alike; comparable within one answer"),
    "explanation": fields.String(required=True, example="Ordered by users who also ordered EGI Cloud Compute"),
    "explanation_short": fields.String(required=True, example="Same category: Compute"),
})
similar_services = ns.model("SimilarServices", {
    "service_id": fields.Integer(required=True, description="the service asked about"),
    "similar": fields.List(fields.Nested(similar_service), required=True,
                           description="most alike first; at most k, fewer when fewer have anything in common"),
    "model_version": NullableString(required=True, description="the Session version whose co-visitations counted "
                                                               "(null before Session is first trained)"),
})
query = ns.parser()
query.add_argument("k", type=integer_in(1, 100), default=10, location="args",
                   help="how many services, 1 to 100")


@ns.route("/<int:service_id>/similar")
@ns.param("service_id", "the marketplace's id of a recommendable service")
class SimilarServices(Resource):
    @token_scope("recommend")
    @ns.doc(security="bearer")
    @ns.expect(query)
    @ns.response(200, "the most similar services", similar_services)
    @ns.response(404, "no recommendable service with this id in the catalogue served")
    @ns.response(503, "no catalogue is served yet (no dump ingested), or a dependency is down: retry later")
    def get(self, service_id):
        """Services like this one: often ordered or viewed with it, in its category, from its provider,
        described alike; each with a score and the reason."""
        return similar_to(service_id, query.parse_args(req=request)["k"])
