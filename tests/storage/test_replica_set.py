"""The service on a replica set's URI, as production should run MongoDB: every write
acknowledged by a majority, reads at majority read concern, retryable reads and writes.

SecantusDB answers `hello` as a one-node replica set, so the options are checked against a
server that takes them; with MONGODB_URI naming a standalone MongoDB the test is skipped.
A failover between nodes cannot be run here (one node): docs/scaling.md says what the
driver does then."""
import pytest

from app import create_app
from app.storage import database
from tests.recommendations.serving_fixtures import serve_marketplace
from tests.test_gunicorn_server import click, panel_request


def test_a_replica_set_uri_with_majority_writes_and_reads_serves_the_whole_path(db, settings):
    hello = db.client.admin.command("hello")
    if "setName" not in hello:
        pytest.skip("the server is not a replica set")
    options = f"replicaSet={hello['setName']}&w=majority&readConcernLevel=majority&readPreference=primaryPreferred"
    replica_set_app = create_app({**settings, "MONGODB_URI": f"{settings['MONGODB_URI']}?{options}"})
    serve_marketplace(replica_set_app)  # a dump ingested, events stored, models fitted: all through that client
    with replica_set_app.app_context():
        client = database().client
        assert client.write_concern.document == {"w": "majority"}
        assert client.read_concern.level == "majority"
        assert client.options.retry_writes and client.options.retry_reads
    http = replica_set_app.test_client()
    assert http.post("/user_actions", json=click(1)).status_code == 204
    assert http.post("/recommendations", json=panel_request(1)).status_code == 200
    with replica_set_app.app_context():  # the process's one connection is that app's now (tests/conftest.py)
        assert database()["user_actions"].count_documents({"unique_id": click(1)["unique_id"]}) == 1
