"""A new API worker opens its collections before its first request (gunicorn's post_worker_init),
so mongoengine's one-time index checks are not paid inside a panel."""
import uuid

from app.storage import all_documents, open_collections
from tests.fixtures.mongo_commands import recorded_commands
from tests.recommendations.serving_fixtures import serve_marketplace


def _as_in_a_new_process():
    """Documents as a freshly started process has them: no collection opened yet."""
    for document in all_documents():
        document._collection = None


def _first_view(client, user_id):
    response = client.post("/recommendations", json={
        "user_id": user_id, "unique_id": str(uuid.uuid4()), "timestamp": "2021-03-18T18:49:55.006Z",
        "visit_id": None, "page_id": "/services", "panel_id": "v1", "client_id": "marketplace",
        "search_data": {}, "engine_version": "NCF"})
    assert response.status_code == 200, response.get_json()


def test_the_first_request_of_a_worker_checks_no_index_once_collections_are_open(app, client, db):
    user_id = serve_marketplace(app)["users"][0]["id"]

    with app.app_context(), recorded_commands("createIndexes") as during_request:
        _as_in_a_new_process()
        _first_view(client, user_id)
    assert during_request, "a first view in a new process checks the history collections' indexes"

    with app.app_context(), recorded_commands("createIndexes") as at_boot:
        _as_in_a_new_process()
        open_collections()
    assert {command["createIndexes"] for command in at_boot} >= {"user_actions", "events"}

    with app.app_context(), recorded_commands("createIndexes") as during_request:
        _first_view(client, user_id)
    assert during_request == []
