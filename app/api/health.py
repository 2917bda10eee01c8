from flask_restx import Namespace, Resource, fields

from app import health
from app.wire.fields import NullableRaw, NullableString

ns = Namespace("health", path="/health", description="Is the service able to serve")

component = ns.model(
    "Component", {"status": fields.String(enum=["UP", "DOWN", "NOT_READY"]), "error": NullableString()}
)
default_engine = ns.model("DefaultEngine", {
    "status": fields.String(enum=["UP", "DOWN"], description="DOWN when it could not be read"),
    "engine": NullableString(description="the engine answering a request that names none; null: the fallback "
                                         "chain picks by who is asking"),
    "source": fields.String(enum=["setting", "measured"],
                            description="set by DEFAULT_RECOMMENDATION_ENGINE, or measured best on the active data"),
    "reason": fields.String(description="why this engine"),
    "snapshot_id": NullableString(description="the active snapshot it was measured on (measured only)"),
    "model_id": NullableString(description="the NCF version whose training measured it (measured only)"),
    "scores": NullableRaw(description="the gate metric of NCF, Popularity and Session on that split, or null"),
    "ncf_on_active_snapshot": fields.Boolean(description="the active NCF version was trained on the active "
                                                         "snapshot (else it answers only when asked by name)"),
    "error": NullableString(),
})
tree = ns.model(
    "Health",
    {
        "status": fields.String(enum=["UP", "DOWN"], required=True),
        "database": fields.Nested(component),
        "broker": fields.Nested(component),
        "celery_worker": fields.Nested(component),
        "engines": fields.Raw(description="one node per engine: is a model ready"),
        "default_engine": fields.Nested(default_engine),
    },
)


@ns.route("")
class Health(Resource):
    @ns.response(200, "every component is up", tree)
    @ns.response(503, "a component is down", tree)
    def get(self):
        report = health.check()
        return report, 200 if report["status"] == "UP" else 503
