from flask_restx import Namespace, Resource, fields

from app.api.integers import integer_in
from app.marketplace import catalogue
from app.wire.fields import NullableDateTime, NullableInteger, NullableRaw, NullableString

ns = Namespace("datasets", path="/datasets", description="Dataset snapshots made from dumps")

dataset = ns.model("Dataset", {
    "id": fields.String(required=True),
    "active": fields.Boolean(description="is this the snapshot every read sees"),
    "status": fields.String(enum=["received", "ingesting", "ready", "active", "superseded", "failed", "retired"]),
    "source": NullableString(description="api, movielens, seed, ..."),
    "sequence": NullableInteger(description="order of receipt: the latest received wins"),
    "checksum": NullableString(description="sha256 of the canonical dump"),
    "counts": NullableRaw(description="items per dump key"),
    "problem_counts": NullableRaw(description="per kind of problem (e.g. services/categories), how many"),
    "dump_bytes": NullableInteger(description="size of the canonical dump before compression"),
    "error": NullableString(),
    "created_at": NullableDateTime(),
    "ingested_at": NullableDateTime(),
    "activated_at": NullableDateTime(),
    "training_requested_at": NullableDateTime(),
})
dataset_detail = ns.inherit("DatasetDetail", dataset, {
    "problems": NullableRaw(description="per kind: reason, count and a few examples"),
})
dataset_list = ns.model("DatasetList", {
    "active_snapshot_id": NullableString(),
    "datasets": fields.List(fields.Nested(dataset)),
})
listing = ns.parser()
listing.add_argument("limit", type=integer_in(1, 500), default=50, location="args",
                     help="how many, latest received first")


@ns.route("")
class Datasets(Resource):
    @ns.expect(listing)
    @ns.marshal_with(dataset_list)
    def get(self):
        """Dataset snapshots, latest received first, with counts, status and the active one."""
        return catalogue.list_snapshots(listing.parse_args()["limit"])


@ns.route("/<string:snapshot_id>")
@ns.param("snapshot_id", "a dataset snapshot id")
class Dataset(Resource):
    @ns.marshal_with(dataset_detail)
    @ns.response(404, "no such snapshot")
    def get(self, snapshot_id):
        """One dataset snapshot, with its problems (e.g. references to ids the dump lacks)."""
        return catalogue.describe_snapshot(snapshot_id)
