from flask import Response
from flask_restx import Namespace, Resource

from app.observability import metrics

ns = Namespace("metrics", path="/metrics", description="Prometheus metrics")


@ns.route("")
class Metrics(Resource):
    @ns.produces(["text/plain"])
    @ns.response(200, "Prometheus exposition format")
    def get(self):
        body, content_type = metrics.render()
        return Response(body, content_type=content_type)
