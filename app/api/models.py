"""The model registry: versions with metrics and lineage; promote or roll back."""
from flask import Response, request
from flask_restx import Namespace, Resource, fields

from app import model_registry as registry
from app.storage.models import MODEL_KINDS

ns = Namespace("models", path="/models", description="Trained model versions (the model registry)")

version = ns.model("ModelVersion", {
    "id": fields.String(), "engine": fields.String(enum=list(MODEL_KINDS)),
    "status": fields.String(enum=["candidate", "active", "retired", "rejected"]),
    "dataset_id": fields.String(description="the dataset snapshot it was trained on"),
    "config": fields.Raw(), "metrics": fields.Raw(), "code_version": fields.String(),
    "job_id": fields.String(), "training_seconds": fields.Float(), "weights_bytes": fields.Integer(),
    "stale": fields.Boolean(description="data it learnt from was deleted since"), "stale_reason": fields.String(),
    "plots": fields.List(fields.String(), description="names of the PNG plots at /models/<id>/plots/<name>.png"),
    "created_at": fields.DateTime(), "activated_at": fields.DateTime(), "retired_at": fields.DateTime(),
})
listing = ns.parser()
listing.add_argument("engine", type=str, location="args", choices=MODEL_KINDS, help="only this engine")


@ns.route("")
class ModelVersions(Resource):
    @ns.expect(listing)
    @ns.marshal_list_with(version)
    def get(self):
        """Versions, newest first, with metrics and the dataset they came from."""
        return [registry.describe(v) for v in registry.list_versions(listing.parse_args(req=request)["engine"])]


@ns.route("/<string:model_id>")
class Version(Resource):
    @ns.marshal_with(version)
    @ns.response(404, "no such version")
    def get(self, model_id):
        return registry.describe(registry.get_version(model_id))


@ns.route("/<string:model_id>/activate")
class Activate(Resource):
    @ns.doc(security="bearer")
    @ns.marshal_with(version)
    @ns.response(404, "no such version")
    def post(self, model_id):
        """Serve this version for its engine: promote a candidate or roll back to an older one."""
        return registry.describe(registry.activate(registry.get_version(model_id)))


@ns.route("/<string:model_id>/plots/<string:name>.png")
class Plot(Resource):
    @ns.produces(["image/png"])
    @ns.response(404, "no such version or plot")
    def get(self, model_id, name):
        return Response(registry.plot_png(registry.get_version(model_id), name), mimetype="image/png")
