"""GET /models, GET /models/<id>, POST /models/<id>/activate, plots."""
import numpy as np
import pytest

from app import create_app
from app import model_registry as registry


def make_versions(app, *hit_rates):
    with app.app_context():
        return [str(registry.register("NCF", {"w": np.ones(3, np.float32)}, {}, dataset_id="ds-9",
                                      metrics={"hr@10": hr}).id) for hr in hit_rates]


def test_versions_are_listed_newest_first_with_lineage(client, app, db):
    older, newer = make_versions(app, 0.6, 0.7)
    body = client.get("/models").get_json()
    assert [v["id"] for v in body] == [newer, older]
    assert body[0]["dataset_id"] == "ds-9" and body[0]["metrics"] == {"hr@10": 0.7}
    assert client.get("/models?engine=RL").get_json() == []
    assert client.get(f"/models/{older}").get_json()["status"] == "candidate"


def test_activate_promotes_and_rolls_back(client, app, db):
    older, newer = make_versions(app, 0.6, 0.7)
    assert client.post(f"/models/{newer}/activate").get_json()["status"] == "active"
    assert client.post(f"/models/{older}/activate").get_json()["status"] == "active"
    assert client.get(f"/models/{newer}").get_json()["status"] == "retired"


def test_plots_are_served_as_png(client, app, db):
    (version_id,) = make_versions(app, 0.5)
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 32
    with app.app_context():
        registry.add_plot(registry.get_version(version_id), "loss", png)
    response = client.get(f"/models/{version_id}/plots/loss.png")
    assert response.status_code == 200 and response.mimetype == "image/png" and response.data == png
    assert client.get(f"/models/{version_id}").get_json()["plots"] == ["loss"]
    assert client.get(f"/models/{version_id}/plots/nothing.png").status_code == 404


@pytest.mark.parametrize("path", ["/models/nope", "/models/65f000000000000000000000", "/models/nope/plots/loss.png"])
def test_unknown_versions_are_json_404(client, db, path):
    response = client.get(path)
    assert response.status_code == 404 and response.get_json()["errors"]


def test_unknown_engine_filter_is_400(client, db):
    response = client.get("/models?engine=Magic")
    assert response.status_code == 400 and "engine" in response.get_json()["errors"]


def test_activation_is_a_write_that_needs_a_token(settings, app, db):
    (version_id,) = make_versions(app, 0.5)
    secured = create_app(settings | {"API_TOKENS": ["t"]})
    app.extensions["celery"].set_default()
    assert secured.test_client().post(f"/models/{version_id}/activate").status_code == 401
