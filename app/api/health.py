from flask_restx import Namespace, Resource, fields

from app import health

ns = Namespace("health", path="/health", description="Is the service able to serve")

component = ns.model(
    "Component", {"status": fields.String(enum=["UP", "DOWN", "NOT_READY"]), "error": fields.String()}
)
tree = ns.model(
    "Health",
    {
        "status": fields.String(enum=["UP", "DOWN"], required=True),
        "database": fields.Nested(component),
        "broker": fields.Nested(component),
        "celery_worker": fields.Nested(component),
        "engines": fields.Raw(description="one node per engine: is a model ready"),
    },
)


@ns.route("")
class Health(Resource):
    @ns.response(200, "every component is up", tree)
    @ns.response(503, "a component is down", tree)
    def get(self):
        report = health.check()
        return report, 200 if report["status"] == "UP" else 503
