"""The model registry: versions with metrics and lineage; promote or roll back."""
from flask import Response, request
from flask_restx import Namespace, Resource, fields

from app import model_registry as registry
from app.recommendations.default_engine import marked_defaults
from app.storage.models import MODEL_KINDS
from app.wire.fields import NullableDateTime, NullableFloat, NullableInteger, NullableString

ns = Namespace("models", path="/models", description="Trained model versions (the model registry)")

version = ns.model("ModelVersion", {
    "id": fields.String(), "engine": fields.String(enum=list(MODEL_KINDS)),
    "status": fields.String(enum=["candidate", "active", "retired", "rejected"]),
    "dataset_id": NullableString(description="the dataset snapshot it was trained on"),
    "config": fields.Raw(), "metrics": fields.Raw(description="its measurements; for NCF also `baselines`, "
                                                              "`default_engine` (which engine measured best on "
                                                              "its split, and why), `gate` and `objectives` "
                                                              "(per objective: its positives, whether it has a "
                                                              "service side of its own, and HR@k, NDCG@k, ... on "
                                                              "each user's latest positive of it for `NCF`, "
                                                              "`NCF order model` and `Popularity`)"),
    "code_version": NullableString(), "job_id": NullableString(), "training_seconds": NullableFloat(),
    "weights_bytes": NullableInteger(),
    "stale": fields.Boolean(description="data it learnt from was deleted since"), "stale_reason": NullableString(),
    "plots": fields.List(fields.String(), description="names of the PNG plots at /models/<id>/plots/<name>.png"),
    "created_at": fields.DateTime(), "activated_at": NullableDateTime(), "retired_at": NullableDateTime(),
    "serves_by_default": fields.Boolean(description="its engine answers requests that name none"),
    "default_reason": NullableString(description="why its engine is the default (null unless serves_by_default)"),
})
listing = ns.parser()
listing.add_argument("engine", type=str, location="args", choices=MODEL_KINDS, help="only this engine")


@ns.route("")
class ModelVersions(Resource):
    @ns.expect(listing)
    @ns.marshal_list_with(version)
    def get(self):
        """Versions, newest first, with metrics and the dataset they came from."""
        versions = registry.list_versions(listing.parse_args(req=request)["engine"])
        return marked_defaults([registry.describe(v) for v in versions])


@ns.route("/<string:model_id>")
class Version(Resource):
    @ns.marshal_with(version)
    @ns.response(404, "no such version")
    def get(self, model_id):
        return marked_defaults([registry.describe(registry.get_version(model_id))])[0]


@ns.route("/<string:model_id>/activate")
class Activate(Resource):
    @ns.doc(security="bearer")
    @ns.marshal_with(version)
    @ns.response(404, "no such version")
    def post(self, model_id):
        """Serve this version for its engine: promote a candidate or roll back to an older one."""
        return marked_defaults([registry.describe(registry.activate(registry.get_version(model_id)))])[0]


@ns.route("/<string:model_id>/plots/<string:name>.png")
class Plot(Resource):
    @ns.produces(["image/png"])
    @ns.response(404, "no such version or plot")
    def get(self, model_id, name):
        return Response(registry.plot_png(registry.get_version(model_id), name), mimetype="image/png")
