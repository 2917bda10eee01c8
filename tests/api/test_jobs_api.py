import time


def poll(client, location, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(location).get_json()
        if body["state"] in ("SUCCESS", "FAILURE"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"{location} did not finish: {body}")


def test_a_started_job_is_followed_to_its_result(client, db, worker):
    response = client.post("/jobs/selfcheck")
    assert response.status_code == 202
    job_id = response.get_json()["job_id"]
    assert response.headers["Location"].endswith(f"/jobs/{job_id}")
    body = poll(client, response.headers["Location"])
    assert body["state"] == "SUCCESS" and body["percent"] == 100
    assert body["result"]["database"] == "ok"
    assert body["created_at"] <= body["started_at"] <= body["finished_at"]


def test_an_unknown_job_is_a_json_404(client, db):
    response = client.get("/jobs/4b0c2a4e-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert response.get_json()["errors"] == {"job_id": "unknown job"}


def test_a_queued_job_is_cancelled_and_says_so(settings, app, db):
    from app import create_app

    # A broker database no worker listens on: the job stays queued.
    idle = create_app(settings | {"CELERY_BROKER_URL": settings["REDIS_URL"].rsplit("/", 1)[0] + "/7"})
    app.extensions["celery"].set_default()
    client = idle.test_client()
    job_id = client.post("/jobs/selfcheck").get_json()["job_id"]
    assert client.get(f"/jobs/{job_id}").get_json()["state"] == "PENDING"
    body = client.post(f"/jobs/{job_id}/cancel").get_json()
    assert body["state"] == "REVOKED" and body["error"] == "cancelled on request" and body["finished_at"]


def test_cancelling_a_finished_job_leaves_it_finished(client, db, worker):
    job_id = client.post("/jobs/selfcheck").get_json()["job_id"]
    assert poll(client, f"/jobs/{job_id}")["state"] == "SUCCESS"
    assert client.post(f"/jobs/{job_id}/cancel").get_json()["state"] == "SUCCESS"
    assert client.post("/jobs/no-such-job/cancel").status_code == 404


def test_the_self_check_path_is_not_taken_for_a_job_id(client, db):
    allow = client.open("/jobs/selfcheck", method="OPTIONS").headers["Allow"]
    assert set(allow.split(", ")) == {"POST", "OPTIONS"}  # werkzeug lists them in no fixed order
    assert client.get("/jobs/selfcheck").status_code == 405
    assert client.get("/jobs/selfcheck-2").status_code == 404  # an id that only starts like it
