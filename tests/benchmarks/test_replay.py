"""The pure parts of benchmarks/replay.py: the cut, the dump, what each rating sends, the counts."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.sample_data.movielens import Movie
from app.wire.dump import check_dump
from benchmarks.replay_data import Rating, build_dump, catalogue_template, in_time_order, split
from benchmarks.replay_protocol import (
    HitCounter,
    StreamPopularity,
    history_batches,
    interaction_request,
    recommendation_requests,
    session_id,
    visit_id,
)

NOON = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def rating(user, service, stars, second):
    return Rating(user, service, stars, 1_000_000 + second)


@pytest.fixture
def template():
    movies = [Movie(i, f"Movie {i}", 1990 + i, ("Drama",) if i % 2 else ("Comedy", "Drama")) for i in range(1, 7)]
    return catalogue_template(movies, users=[1, 2, 3])


def test_ratings_in_time_order_keep_the_file_order_within_a_second():
    ratings = [rating(2, 5, 4, 10), rating(1, 4, 4, 10), rating(1, 3, 4, 9), rating(1, 6, 4, 10)]
    assert [(r.user_id, r.service_id) for r in in_time_order(ratings)] == [(1, 3), (1, 4), (1, 6), (2, 5)]


def test_the_cut_never_splits_a_second_and_the_window_is_the_last_ratings():
    ratings = [rating(1, s, 4, second) for s, second in enumerate([1, 2, 3, 3, 3, 4, 5, 6, 7, 8], start=1)]
    parts = split(ratings, 0.3, last=None)  # 3 ratings would end inside second 3: the cut moves past it
    assert [r.timestamp - 1_000_000 for r in parts.before] == [1, 2, 3, 3, 3]
    assert parts.skipped == [] and len(parts.replayed) == 5

    parts = split(ratings, 0.3, last=2)
    assert [r.service_id for r in parts.skipped] == [6, 7, 8]
    assert [r.service_id for r in parts.replayed] == [9, 10]
    assert [r.service_id for r in split(ratings, 0.3, last=None, limit=2).replayed] == [6, 7]
    with pytest.raises(ValueError):
        split(ratings, 1.0, last=None)


def test_the_dump_holds_what_happened_before_the_cut(template):
    before = [rating(1, 3, 5, 1), rating(1, 2, 2, 2), rating(1, 4, 4, 3), rating(1, 3, 4, 4), rating(2, 1, 1, 5)]
    dump = build_dump(template, before)
    check_dump(dump)  # what POST /update accepts
    users = {u["id"]: u for u in dump["users"]}
    assert set(users) == {1, 2}  # user 3 rated nothing yet
    assert users[1]["accessed_services"] == [3, 4]  # taken in order, each once; 2 stars is no taking
    assert users[2]["accessed_services"] == []
    assert dump["projects"] == [{"id": 1, "user_id": 1, "services": [3, 4]}]
    assert len(dump["services"]) == 6  # the whole catalogue, rated or not
    stars = {s["id"]: s["rating"] for s in dump["services"]}
    assert stars[3] == "4.50" and stars[1] == "1.00" and stars[5] == "0.00"
    assert template["users"][0]["accessed_services"] == []  # the template is left alone


def test_requests_before_a_rating_are_a_panel_and_a_list_and_probes_are_tagged():
    moment = NOON
    panel, listing = recommendation_requests(rating(7, 3, 4, 0), 12, moment)
    assert panel["panel_id"] == "v1" and "k" not in panel and panel["visit_id"] == visit_id(12, "listing")
    assert listing["k"] == 10 and listing["visit_id"] is None
    assert panel["user_id"] == 7 and panel["unique_id"] == session_id(7) and panel["client_id"] == "marketplace"
    assert panel["timestamp"] == "2026-12-06T12:00:00.000Z" and panel["page_id"] == "/services"
    for probe in recommendation_requests(rating(7, 3, 4, 0), 12, moment, engine="NCF"):
        assert probe["engine_version"] == "NCF" and probe["client_id"] == "undefined" and probe["visit_id"] is None
    assert "engine_version" not in panel and "engine_version" not in listing


def test_a_taken_service_is_a_click_and_an_order_from_the_panel_when_it_was_shown():
    later = NOON + timedelta(milliseconds=1)
    path, actions = interaction_request(rating(7, 3, 4.5, 0), 12, NOON, later, panel=[9, 3, 1])
    assert path == "/user_actions"
    click, order = actions
    assert click["source"] == {"visit_id": visit_id(12, "listing"), "page_id": "/services",
                               "root": {"type": "recommendation_panel", "panel_id": "v1",
                                        "resource_type": "service", "resource_id": 3}}
    assert click["target"]["visit_id"] == order["source"]["visit_id"] == visit_id(12, "page")
    assert click["action"]["order"] is False and order["action"]["order"] is True
    assert (click["timestamp"], order["timestamp"]) == ("2026-12-06T12:00:00.000Z", "2026-12-06T12:00:00.001Z")

    _, (click, _) = interaction_request(rating(7, 3, 4, 0), 12, NOON, later, panel=[9, 1])
    assert click["source"]["root"]["type"] == "other"


def test_a_lower_rating_is_a_rating_event_with_its_stars():
    path, body = interaction_request(rating(7, 3, 2.5, 0), 12, NOON, NOON, panel=[3])
    assert path == "/events"
    assert body == {"events": [{"user_id": 7, "service_id": 3, "type": "rating", "value": 2.5,
                                "timestamp": "2026-12-06T12:00:00.000Z"}]}


def test_history_batches_send_every_rating_once_in_batches():
    ratings = [rating(1, s, 5 if s % 3 else 1, s) for s in range(1, 8)]
    sent = history_batches(ratings, 0, lambda i: NOON + timedelta(milliseconds=i), batch=4)
    actions = [a for path, body in sent if path == "/user_actions" for a in body]
    events = [e for path, body in sent if path == "/events" for e in body["events"]]
    assert len(actions) == 2 * 5 and [e["service_id"] for e in events] == [3, 6]
    assert all(len(body) <= 5 for path, body in sent if path == "/user_actions")


def test_hit_rates_count_taken_services_only():
    counter = HitCounter()
    counter.add(rating(1, 3, 5, 0), panel=[3, 4, 5], listing=[3, 4, 5, 6], served="NCF")
    counter.add(rating(1, 6, 4, 1), panel=[3, 4, 5], listing=[3, 4, 5, 6], served="NCF")
    counter.add(rating(1, 9, 4, 2), panel=[1, 2, 8, 9], listing=list(range(20, 30)) + [9], served="Popularity")
    counter.add(rating(1, 3, 2, 3), panel=[3], listing=[3], served="NCF")  # not taken: no hit counted
    assert (counter.taken, counter.in_list, counter.in_panel, counter.answers) == (3, 2, 1, 4)
    assert counter.hit_rate_at_10 == pytest.approx(2 / 3) and counter.panel_hit_rate == pytest.approx(1 / 3)
    assert counter.served_by == {"NCF": 3, "Popularity": 1}
    later = counter.since(1)  # from the second answer on
    assert (later.taken, later.in_list, later.in_panel, later.answers) == (2, 1, 0, 3)


def test_stream_popularity_ranks_by_takings_then_ratings_without_what_the_user_took():
    before = [rating(1, 2, 5, 0), rating(2, 2, 4, 1), rating(2, 3, 4, 2), rating(3, 4, 1, 3), rating(3, 4, 2, 4)]
    popularity = StreamPopularity([1, 2, 3, 4, 5, 99], before)
    assert popularity.top(user_id=9, k=4) == [2, 3, 4, 1]
    assert popularity.top(user_id=2, k=2) == [4, 1]  # 2 and 3 taken by user 2
    for _ in range(2):
        popularity.record(rating(5, 3, 5, 10))
    popularity.record(rating(5, 42, 5, 11))  # outside the catalogue: ignored
    assert popularity.top(user_id=9, k=2) == [3, 2]
