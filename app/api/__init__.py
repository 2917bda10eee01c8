"""The HTTP API: one flask-restx namespace per resource, errors mapped once."""
from __future__ import annotations

from functools import cached_property

from flask import Blueprint, Flask, request
from flask.sessions import SessionInterface
from flask_restx import Api
from flask_restx.swagger import Swagger
from jsonschema import FormatChecker
from werkzeug.exceptions import HTTPException

from app.api import (
    datasets,
    events,
    experiments,
    health,
    jobs,
    metrics,
    models,
    recommendations,
    services,
    stats,
    training,
    update,
    user_actions,
    users,
)
from app.api.auth import require_token
from app.api.documented_errors import with_error_responses
from app.api.errors import error_response
from app.api.integers import AsciiIntegerConverter
from app.api.json_bodies import OrjsonBodies

NAMESPACES = (
    recommendations.ns, recommendations.scores_ns, services.ns, update.ns, user_actions.ns, events.ns,
    datasets.ns, training.ns, models.ns, experiments.ns, users.ns, jobs.ns, stats.ns, health.ns, metrics.ns,
)
# Endpoints that take whole marketplace dumps get the large body limit.
LARGE_BODY_PATHS = ("/update",)


class NoSessions(SessionInterface):
    """The API keeps no state between requests: no session cookie is read, signed or set.
    Flask's default opened a signed-cookie session on every request (about 3% of a
    recommendation request's time under cProfile) for nothing."""

    def open_session(self, app, request):
        return None  # Flask then gives the request a null session

    def save_session(self, app, session, response):
        pass


class MarketrecApi(Api):
    def handle_error(self, e):
        return error_response(e)

    @cached_property
    def __schema__(self):
        """The Swagger document, with the error answers every operation can give."""
        return with_error_responses(Swagger(self).as_dict())


def _body_limit() -> None:
    if request.path in LARGE_BODY_PATHS:
        from flask import current_app

        request.max_content_length = current_app.config["MAX_DUMP_BYTES"]


def init_api(app: Flask) -> MarketrecApi:
    app.json = OrjsonBodies(app)
    # X-Fields masks still work, but are not offered in /swagger.json: a mask can select
    # none of an answer's required fields, which no documented model could describe.
    app.config["RESTX_MASK_SWAGGER"] = False
    app.url_map.converters["job_id"] = jobs.JobIdConverter
    app.url_map.converters["int"] = AsciiIntegerConverter
    blueprint = Blueprint("api", __name__)
    api = MarketrecApi(
        blueprint,
        version="1.0",
        title="marketrec",
        description="Recommendations for marketplaces: dumps, user actions and events in, "
        "ranked services out.",
        doc="/" if app.config["SWAGGER_UI"] else False,
        validate=True,
        format_checker=FormatChecker(),
        authorizations={"bearer": {"type": "apiKey", "in": "header", "name": "Authorization"}},
        catch_all_404s=True,
    )
    for namespace in NAMESPACES:
        api.add_namespace(namespace)
    blueprint.before_request(require_token)
    app.before_request(_body_limit)
    app.register_blueprint(blueprint)
    # Errors raised outside the API's views (unknown routes, body limits) get the same shape.
    app.register_error_handler(HTTPException, error_response)
    app.register_error_handler(Exception, error_response)
    app.extensions["restx_api"] = api
    return api
