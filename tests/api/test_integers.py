"""Integers in query strings and paths are ASCII digits: `hours=٣` is not 3."""
from urllib.parse import quote

import pytest

from app.api.integers import integer_in

NOT_ASCII_THREE = ["\u0663", "\uff13", "\u09e9"]  # Arabic-Indic, fullwidth, Bengali


@pytest.mark.parametrize("text", [*NOT_ASCII_THREE, "3_0", " 3", "3 ", "+3", "3.0", "", "0x3"])
def test_only_ascii_digits_are_an_integer(text):
    with pytest.raises(ValueError):
        integer_in(1, 100)(text)


def test_an_ascii_integer_within_the_range_is_read():
    assert integer_in(1, 100)("3") == 3
    assert integer_in(-5, 5)("-5") == -5
    with pytest.raises(ValueError, match="not within 1 to 100"):
        integer_in(1, 100)("101")


@pytest.mark.parametrize(("path", "field"), [
    ("/stats/traffic?hours={}", "hours"),
    ("/datasets?limit={}", "limit"),
    ("/services/1/similar?k={}", "k"),
])
@pytest.mark.parametrize("digit", NOT_ASCII_THREE)
def test_a_query_integer_in_other_digits_is_a_400_naming_the_field(client, db, path, field, digit):
    response = client.get(path.format(quote(digit)))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert field in response.get_json()["errors"]


def test_the_same_queries_in_ascii_digits_are_answered(client, db):
    assert client.get("/stats/traffic?hours=3").status_code == 200
    assert client.get("/datasets?limit=3").status_code == 200


@pytest.mark.parametrize("digit", NOT_ASCII_THREE)
def test_a_path_integer_in_other_digits_matches_no_route(client, db, digit):
    assert client.delete(f"/users/{quote(digit)}").status_code == 404
    assert client.get(f"/services/{quote(digit)}/similar").status_code == 404


def test_the_swagger_document_still_says_integer_with_its_range(client):
    operations = client.get("/swagger.json").get_json()["paths"]
    (hours,) = [p for p in operations["/stats/traffic"]["get"]["parameters"] if p["name"] == "hours"]
    assert (hours["type"], hours["minimum"], hours["maximum"]) == ("integer", 1, 24 * 90)
    (user_id,) = operations["/users/{user_id}"]["parameters"]
    assert user_id["type"] == "integer"
