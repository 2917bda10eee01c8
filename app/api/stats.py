"""GET /stats/hitrate: how often users click the panels they are shown."""
from flask import request
from flask_restx import Namespace, Resource, fields

from app.api.integers import integer_in
from app.recommendations.hit_rate import hit_rate
from app.recommendations.traffic import traffic_series
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


traffic_row = ns.model("TrafficHour", {
    "hour": fields.DateTime(description="start of the hour (UTC)"), "engine": fields.String(),
    "panels": fields.Integer(description="panels served"),
    "linked_panels": fields.Integer(description="of those, with a visit id (their clicks can be followed)"),
    "clicks": fields.Integer(description="clicks in those panels"), "panel_clicks": fields.Integer(),
    "page_clicks": fields.Integer(description="clicks leaving the pages that showed them"),
    "orders": fields.Integer(description="orders after a click in the panel"),
    "hit_rate": NullableFloat(description="panel_clicks / page_clicks; null before any click"),
})
traffic_query = ns.parser()
traffic_query.add_argument("hours", type=integer_in(1, 24 * 90), default=48, location="args",
                           help="how many hours back")


@ns.route("/traffic")
class Traffic(Resource):
    @ns.expect(traffic_query)
    @ns.marshal_list_with(traffic_row)
    def get(self):
        """Panels served and what followed them, per engine and hour, as counted once their
        attribution window passed (EXPERIMENT_ATTRIBUTION_SECONDS)."""
        return traffic_series(traffic_query.parse_args(req=request)["hours"])
