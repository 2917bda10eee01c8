"""/swagger.json documents the error answers every operation can give, with their body."""
from app.api.documented_errors import HTTP_METHODS


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield f"{method.upper()} {path}", operation, {p["in"] for p in operation.get("parameters", [])}


def test_every_operation_documents_the_errors_it_can_give(client):
    spec = client.get("/swagger.json").get_json()
    assert spec["definitions"]["Error"]["required"] == ["message", "errors"]
    for name, operation, places in operations(spec):
        responses = operation["responses"]
        assert "503" in responses, name
        if "body" in places:
            assert {"400", "413", "415"} <= set(responses), name
        if "query" in places:
            assert "400" in responses, name
        if operation.get("security"):
            assert "401" in responses, name
        for status, response in responses.items():
            if int(status) >= 400 and name != "GET /health":
                assert response["schema"] == {"$ref": "#/definitions/Error"}, (name, status)


def test_an_image_operation_also_produces_the_json_of_its_errors(client):
    spec = client.get("/swagger.json").get_json()
    assert spec["paths"]["/models/{model_id}/plots/{name}.png"]["get"]["produces"] == ["image/png", "application/json"]
    missing = client.get("/models/000000000000000000000000/plots/loss.png")
    assert missing.status_code == 404 and missing.is_json


def test_field_masks_are_not_offered_in_the_document(client):
    spec = client.get("/swagger.json").get_json()
    assert not any(p.get("name") == "X-Fields" for _, operation, _ in operations(spec)
                   for p in operation.get("parameters", []))


def test_what_can_be_null_is_documented_as_nullable(client, db):
    spec = client.get("/swagger.json").get_json()["definitions"]
    for model, field in [("Job", "error"), ("Job", "percent"), ("Job", "progress"), ("Job", "finished_at"),
                         ("Dataset", "activated_at"), ("Dataset", "error"), ("DefaultEngine", "scores")]:
        assert spec[model]["properties"][field].get("x-nullable") is True, (model, field)
