from app.observability.sentry import _scrub, init_sentry


def test_sentry_stays_off_without_a_dsn():
    assert init_sentry({"SENTRY_DSN": ""}) is False


def test_events_lose_user_identifiers_before_they_leave():
    event = {
        "user": {"id": 1234, "ip_address": "10.0.0.1"},
        "request": {"url": "http://x/user_actions", "data": {"user_id": 1234}, "cookies": {"s": "1"}},
        "extra": {"user_id": 1234, "aai_uid": "abc@egi.eu", "unique_id": "u", "job_id": "kept"},
    }
    scrubbed = _scrub(event, {})
    assert "user" not in scrubbed
    assert "data" not in scrubbed["request"] and "cookies" not in scrubbed["request"]
    assert scrubbed["extra"] == {"job_id": "kept"}


def test_sentry_starts_with_flask_and_celery_integrations_when_configured():
    import sentry_sdk

    settings = {"SENTRY_DSN": "https://public@sentry.invalid/1", "APP_ENV": "testing",
                "SENTRY_SAMPLE_RATE": 0.5, "SENTRY_TRACES_SAMPLE_RATE": 0.0}
    try:
        assert init_sentry(settings) is True
        client = sentry_sdk.get_client()
        assert client.options["sample_rate"] == 0.5
        assert client.options["send_default_pii"] is False
        assert {"flask", "celery"} <= set(client.integrations)
    finally:
        sentry_sdk.init(dsn=None)  # leave the SDK off for the rest of the suite
