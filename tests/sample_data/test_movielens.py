"""MovieLens 100K → marketplace: the pure converter on a hand-made sample."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import InvalidInput
from app.sample_data.movielens import (
    AGE_BAND_ID_BASE,
    GENRES,
    OCCUPATION_ID_BASE,
    age_band,
    convert_movielens,
)
from app.sample_data.movielens_files import fetch_movielens, movielens_present

ITEMS = """item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq
1\tToy Story\t1995\tAnimation Children's Comedy
2\tCasablanca\t1942\tDrama Romance War
3\tunkonwn\tunkonwn\tunknown
4\tBody Snatchers\t1993\tHorror Sci-Fi
"""
USERS = """user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token
1\t24\tM\ttechnician\t85711
2\t53\tF\tother\t94043
3\t17\tM\tstudent\t32067
"""
# User 1 likes 2 then 1 (time order differs from file order), is lukewarm on 4.
# User 3 rates nothing 4 or more.
RATINGS = """user_id:token\titem_id:token\trating:float\ttimestamp:float
1\t1\t5\t881250949
1\t2\t4\t881250000
1\t4\t2\t881251000
2\t1\t4\t891717742
2\t3\t3\t891717000
3\t2\t1\t878887116
"""


def write_sample(directory: Path, items: str = ITEMS, users: str = USERS, ratings: str = RATINGS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ml-100k.item").write_text(items, encoding="utf-8")
    (directory / "ml-100k.user").write_text(users, encoding="utf-8")
    (directory / "ml-100k.inter").write_text(ratings, encoding="utf-8")
    return directory


@pytest.fixture
def sample(tmp_path):
    return convert_movielens(write_sample(tmp_path / "ml-100k"))


def test_movies_become_published_services_with_genres_and_decades(sample):
    services = {s["id"]: s for s in sample.dump["services"]}
    assert sorted(services) == [1, 2, 3, 4]
    assert {s["status"] for s in services.values()} == {"published"}
    genre_id = {c["name"]: c["id"] for c in sample.dump["categories"]}
    assert [c["name"] for c in sample.dump["categories"]] == list(GENRES)
    assert services[1]["categories"] == [genre_id["Animation"], genre_id["Children's"], genre_id["Comedy"]]
    assert services[1]["name"] == "Toy Story (1995)"
    assert services[1]["scientific_domains"] == [1990]
    assert services[2]["scientific_domains"] == [1940]
    assert services[3]["scientific_domains"] == []  # no release year
    assert services[1]["rating"] == "4.50"
    domains = {d["id"]: d["name"] for d in sample.dump["scientific_domains"]}
    assert domains[1990] == "1990s" and domains[1940] == "1940s"


def test_users_get_occupation_and_age_band_facets(sample):
    users = {u["id"]: u for u in sample.dump["users"]}
    domains = {d["id"]: d["name"] for d in sample.dump["scientific_domains"]}
    assert [domains[d] for d in users[1]["scientific_domains"]] == ["occupation: technician", "age 18-24"]
    assert [domains[d] for d in users[2]["scientific_domains"]] == ["occupation: other", "age 50-55"]
    assert [domains[d] for d in users[3]["scientific_domains"]] == ["occupation: student", "age under 18"]
    assert all(u["categories"] == [] for u in users.values())
    assert all(OCCUPATION_ID_BASE < users[u]["scientific_domains"][0] < AGE_BAND_ID_BASE for u in users)


def test_liked_ratings_are_accessed_services_in_time_order_and_projects(sample):
    users = {u["id"]: u for u in sample.dump["users"]}
    assert users[1]["accessed_services"] == [2, 1]
    assert users[2]["accessed_services"] == [1]
    assert users[3]["accessed_services"] == []
    assert sample.dump["projects"] == [
        {"id": 1, "user_id": 1, "services": [2, 1]},
        {"id": 2, "user_id": 2, "services": [1]},
    ]


def test_each_liked_rating_is_a_click_then_an_order(sample):
    actions = sample.user_actions
    assert len(actions) == 2 * 3
    click, order = actions[0], actions[1]  # user 1's Casablanca, the earliest liked rating
    assert click["user_id"] == 1 and click["timestamp"] == "1997-12-04T15:40:00.000Z"
    assert click["source"]["page_id"] == "/services"
    assert click["source"]["root"] == {"type": "other", "resource_type": "service", "resource_id": 2}
    assert click["target"]["page_id"] == "/services/2-casablanca-1942"
    assert click["action"] == {"type": "link", "text": "Casablanca (1942)", "order": False}
    assert order["source"] == click["target"]
    assert order["action"]["order"] is True and order["timestamp"] == "1997-12-04T15:40:30.000Z"
    assert {a["unique_id"] for a in actions if a["user_id"] == 1} == {click["unique_id"]}
    assert len({a["target"]["visit_id"] for a in actions}) == len(actions)
    assert all(("root" in a["source"]) is (not a["action"]["order"]) for a in actions)


def test_lower_ratings_are_rating_events_with_their_stars(sample):
    assert sample.events == [
        {"user_id": 3, "service_id": 2, "type": "rating", "value": 1, "timestamp": "1997-11-07T07:18:36.000Z"},
        {"user_id": 1, "service_id": 4, "type": "rating", "value": 2, "timestamp": "1997-12-04T15:56:40.000Z"},
        {"user_id": 2, "service_id": 3, "type": "rating", "value": 3, "timestamp": "1998-04-04T19:10:00.000Z"},
    ]


def test_conversion_is_deterministic(tmp_path, sample):
    again = convert_movielens(write_sample(tmp_path / "again"))
    assert again == sample


def test_dump_keys_and_references_are_complete(sample):
    from app.wire.dump import DUMP_KEYS

    assert set(sample.dump) == set(DUMP_KEYS)
    ids = {key: {item["id"] for item in items} for key, items in sample.dump.items()}
    for service in sample.dump["services"]:
        assert set(service["categories"]) <= ids["categories"]
        assert set(service["scientific_domains"]) <= ids["scientific_domains"]
        assert set(service["providers"]) <= ids["providers"]
    for user in sample.dump["users"]:
        assert set(user["scientific_domains"]) <= ids["scientific_domains"]
        assert set(user["accessed_services"]) <= ids["services"]


@pytest.mark.parametrize("age, band", [(1, 0), (17, 0), (18, 1), (24, 1), (25, 2), (49, 4), (56, 6), (73, 6)])
def test_age_bands(age, band):
    assert age_band(age) == band


def test_a_missing_column_names_the_file(tmp_path):
    directory = write_sample(tmp_path, users="user_id:token\tgender:token\n1\tM\n")
    with pytest.raises(InvalidInput) as raised:
        convert_movielens(directory)
    assert raised.value.errors == {"ml-100k.user": "missing age, occupation"}


def test_a_missing_file_is_named(tmp_path):
    directory = write_sample(tmp_path)
    (directory / "ml-100k.inter").unlink()
    with pytest.raises(InvalidInput) as raised:
        convert_movielens(directory)
    assert raised.value.errors == {"ml-100k.inter": "missing"}


def test_a_malformed_row_is_rejected(tmp_path):
    directory = write_sample(tmp_path, ratings=RATINGS + "1\tnot-a-movie\t4\t881250949\n")
    with pytest.raises(InvalidInput):
        convert_movielens(directory)


def test_fetch_does_nothing_when_the_files_are_present(tmp_path):
    directory = write_sample(tmp_path / "cached")
    before = {p.name: p.stat().st_mtime_ns for p in directory.iterdir()}
    assert movielens_present(directory)
    assert fetch_movielens(directory) == directory
    assert {p.name: p.stat().st_mtime_ns for p in directory.iterdir()} == before


def test_the_api_schemas_accept_the_payloads_unchanged(sample):
    from jsonschema import Draft4Validator, FormatChecker

    from app.cli.data import check_events, check_user_actions
    from app.wire.dump import DUMP

    schema = DUMP.json_schema()
    assert list(Draft4Validator(schema, format_checker=FormatChecker()).iter_errors(sample.dump)) == []
    assert check_user_actions(sample.user_actions) == len(sample.user_actions)
    assert check_events(sample.events) == len(sample.events)
