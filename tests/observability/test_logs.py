import json
import logging

from app.observability.logs import JsonFormatter


def test_one_json_line_per_request_with_latency(client, caplog):
    with caplog.at_level(logging.INFO, logger="marketrec.request"):
        client.get("/jobs/x", headers={"X-Request-ID": "req-42"})
    (record,) = [r for r in caplog.records if r.name == "marketrec.request"]
    line = json.loads(JsonFormatter().format(record))
    assert line["method"] == "GET" and line["path"] == "/jobs/x" and line["status"] == 404
    assert line["endpoint"] == "/jobs/<job_id:job_id>"
    assert line["request_id"] == "req-42"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0


def test_formatter_keeps_extras_and_exceptions():
    try:
        raise ValueError("broken")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info())
    record.job_id = "j-1"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "failed here" and line["job_id"] == "j-1" and "ValueError" in line["exception"]


def test_an_outage_warning_is_said_once_a_period_with_how_often_it_happened(caplog):
    import logging

    from app.observability.logs import OutageWarning

    warn = OutageWarning(logging.getLogger("outage-test"), "cache unavailable", every=3600)
    with caplog.at_level(logging.WARNING, logger="outage-test"):
        for _ in range(5):
            warn(ConnectionError("refused"))
    assert [r.getMessage() for r in caplog.records] == ["cache unavailable: ConnectionError: refused"]
    assert caplog.records[0].exc_info is None
    warn.said_at -= 3600  # the period is over
    with caplog.at_level(logging.WARNING, logger="outage-test"):
        warn(ConnectionError("refused"))
    assert caplog.records[-1].times_since_last_said == 5
