"""GET /stats/hitrate: how often users click the panels they are shown."""
from flask import request
from flask_restx import Namespace, Resource, fields

from app.recommendations.hit_rate import hit_rate
from app.wire.fields import NullableFloat

ns = Namespace("stats", path="/stats", description="Serving statistics")

row = ns.model("HitRate", {
    "engine": fields.String(), "panel": fields.String(enum=["v1", "v2"]),
    "recommendations": fields.Integer(description="panels served (with a visit id)"),
    "clicks": fields.Integer(description="clicks leaving the pages that showed them"),
    "panel_clicks": fields.Integer(description="of those, clicks in the panel"),
    "hit_rate": NullableFloat(description="panel_clicks / clicks; null before any click"),
})
query = ns.parser()
query.add_argument("engine", type=str, location="args", help="only this engine")
query.add_argument("panel", type=str, location="args", choices=("v1", "v2"), help="only this panel")


@ns.route("/hitrate")
class HitRate(Resource):
    @ns.expect(query)
    @ns.marshal_list_with(row)
    def get(self):
        """Share of clicks from recommendation visits that came from the panel, per engine and panel."""
        args = query.parse_args(req=request)
        return hit_rate(args["engine"], args["panel"])
