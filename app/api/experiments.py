"""Experiments on live traffic: start one, follow its results, stop it."""
from __future__ import annotations

from flask import request
from flask_restx import Namespace, Resource, fields

from app import experiment_registry as registry
from app.wire.checked_model import register
from app.wire.experiments import EXPERIMENT_REQUEST, SCOPE, VARIANT
from app.wire.fields import NullableDateTime, NullableFloat, NullableInteger, NullableNested

ns = Namespace("experiments", path="/experiments",
               description="A/B experiments: variants of the serving engine on shares of the traffic")
register(ns, EXPERIMENT_REQUEST)

interval = ns.model("Interval", {
    "value": NullableFloat(), "low": NullableFloat(description="95% interval"), "high": NullableFloat(),
})
against_control = ns.model("AgainstControl", {
    "difference": NullableFloat(description="of the primary metric, variant minus control"),
    "low": NullableFloat(description="always-valid 95% interval of the difference"), "high": NullableFloat(),
    "p_value": NullableFloat(description="always-valid: safe to read at every look"),
    "verdict": fields.String(enum=["better", "worse", "no difference yet", "too few visitors"]),
})
off_policy = ns.model("OffPolicyEstimate", {
    "units": fields.Integer(description="people with at least one such panel"),
    "panels": fields.Integer(description="panels whose served engine drew at random and logged each shown "
                                         "service's chance"),
    "ctr": fields.Nested(interval, description="estimated clicks per panel had the shadow been shown: its "
                                               "agreed clicks, each weighted by 1 / the chance of that service"),
    "orders_per_panel": fields.Nested(interval, description="the same for the orders that followed"),
    "weight_check": NullableFloat(description="Σ 1/chance over the shown services the shadow would show, over "
                                              "the services it would show: near 1 when the estimate is sound"),
})
variant_results = ns.model("VariantResults", {
    "name": fields.String(), "control": fields.Boolean(), "shadow": fields.Boolean(),
    "units": fields.Integer(description="people who saw at least one of its panels"),
    "panels": fields.Integer(description="panels served with a visit id (their clicks can be followed)"),
    "clicks": fields.Integer(description="clicks in those panels (for a shadow: clicks on services it "
                                         "also recommended)"),
    "page_clicks": fields.Integer(description="every click leaving the pages that showed them"),
    "orders": fields.Integer(description="orders that followed a click in the panel"),
    "ctr": fields.Nested(interval, description="clicks per panel"),
    "hit_rate": fields.Nested(interval, description="clicks / page_clicks"),
    "orders_per_panel": fields.Nested(interval),
    "visitor_click_rate": fields.Nested(interval, description="share of people who clicked a panel "
                                                              "(the primary metric)"),
    "visitor_order_rate": fields.Nested(interval, description="share of people who ordered after a panel click"),
    "against_control": NullableNested(against_control, allow_null=True,
                                      description="null for the control and for shadows"),
    "off_policy": NullableNested(off_policy, allow_null=True,
                                 description="a shadow's inverse-propensity estimates, from the panels whose "
                                             "served engine drew at random; null for shown variants and "
                                             "when no such panel was served"),
})
results = ns.model("ExperimentResults", {
    "updated_at": fields.DateTime(), "through": NullableDateTime(description="panels served before this "
                                                                             "time are counted"),
    "control": fields.String(), "alpha": fields.Float(), "mixing_sd": NullableFloat(),
    "min_units": NullableInteger(), "primary_metric": fields.String(),
    "variants": fields.List(fields.Nested(variant_results)),
    "verdict": fields.String(description="in a sentence"),
    "bypassed": NullableInteger(description="requests in its scope that named their engine_version, so were "
                                            "served as asked and are not counted"),
})
experiment = ns.model("Experiment", {
    "id": fields.String(required=True), "name": fields.String(required=True),
    "scope": fields.Nested(SCOPE, required=True), "variants": fields.List(fields.Nested(VARIANT), required=True),
    "status": fields.String(enum=["running", "stopped"], required=True),
    "created_at": fields.DateTime(required=True), "stopped_at": NullableDateTime(),
    "results": NullableNested(results, allow_null=True, description="null until the first panels are counted "
                                                                    "(after the attribution window)"),
})
listing = ns.parser()
listing.add_argument("status", type=str, location="args", choices=("running", "stopped"), help="only these")


@ns.route("")
class Experiments(Resource):
    @ns.expect(listing)
    @ns.marshal_list_with(experiment)
    def get(self):
        """Experiments, newest first, with their latest results."""
        return registry.list_experiments(listing.parse_args(req=request)["status"])

    @ns.doc(security="bearer")
    @ns.expect(EXPERIMENT_REQUEST)
    @ns.marshal_with(experiment, code=201)
    @ns.response(409, "a running experiment already takes some of these requests")
    def post(self):
        """Start an experiment: its variants share the panel requests of its scope, each person
        always in the same variant."""
        return registry.create_experiment(request.get_json()), 201


@ns.route("/<string:experiment_id>")
@ns.param("experiment_id", "an experiment id")
class OneExperiment(Resource):
    @ns.marshal_with(experiment)
    @ns.response(404, "no such experiment")
    def get(self, experiment_id):
        """An experiment and its latest per-variant results."""
        return registry.get_experiment(experiment_id)


@ns.route("/<string:experiment_id>/stop")
@ns.param("experiment_id", "an experiment id")
class StopExperiment(Resource):
    @ns.doc(security="bearer")
    @ns.marshal_with(experiment)
    @ns.response(404, "no such experiment")
    def post(self, experiment_id):
        """Stop it: its requests go back to the usual engine choice; its results stay."""
        return registry.stop_experiment(experiment_id)
