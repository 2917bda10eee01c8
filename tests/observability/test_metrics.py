from prometheus_client.parser import text_string_to_metric_families


def samples(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for s in family.samples
    }


def test_requests_are_counted_per_endpoint_template(client):
    before = samples(client)
    client.get("/jobs/some-id")
    client.get("/jobs/another-id")
    after = samples(client)
    endpoint = ("endpoint", "/jobs/<job_id:job_id>")
    key = ("marketrec_http_requests_total", (endpoint, ("method", "GET"), ("status", "404")))
    assert after[key] - before.get(key, 0) == 2
    latency = ("marketrec_http_request_duration_seconds_count", (endpoint, ("method", "GET")))
    assert after[latency] - before.get(latency, 0) == 2


def test_unknown_paths_share_one_label(client):
    client.get("/no-such-path-1")
    client.get("/no-such-path-2")
    names = {labels for (name, labels) in samples(client) if name == "marketrec_http_requests_total"}
    assert not any("no-such-path" in str(labels) for labels in names)


def test_enqueued_tasks_are_counted(client, db, worker):
    key = ("marketrec_tasks_enqueued_total", (("task", "marketrec.selfcheck"),))
    before = samples(client).get(key, 0)
    client.post("/jobs/selfcheck")
    assert samples(client)[key] == before + 1
