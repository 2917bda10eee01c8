"""Error reporting to Sentry, only when SENTRY_DSN is set, without user identifiers."""
from __future__ import annotations

from collections.abc import Mapping

# Keys of a request or task payload that identify a person.
_IDENTIFYING = ("user_id", "aai_uid", "unique_id", "visit_id", "user", "users")


def _scrub(event: dict, hint: dict) -> dict:
    event.pop("user", None)
    request = event.get("request") or {}
    request.pop("data", None)
    request.pop("cookies", None)
    for section in (event.get("extra") or {}, (event.get("contexts") or {}).get("celery") or {}):
        for key in _IDENTIFYING:
            section.pop(key, None)
    return event


def init_sentry(settings: Mapping) -> bool:
    """Start the SDK with Flask and Celery integrations; False when no DSN is configured."""
    if not settings.get("SENTRY_DSN"):
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.flask import FlaskIntegration

    sentry_sdk.init(
        dsn=settings["SENTRY_DSN"],
        environment=settings["APP_ENV"],
        sample_rate=settings["SENTRY_SAMPLE_RATE"],
        traces_sample_rate=settings["SENTRY_TRACES_SAMPLE_RATE"],
        send_default_pii=False,
        max_request_body_size="never",  # bodies carry user ids
        include_local_variables=False,  # so do local variables
        before_send=_scrub,
        integrations=[FlaskIntegration(), CeleryIntegration()],
    )
    return True
