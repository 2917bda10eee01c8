"""A dump's check: compiled per item, jsonschema only on what it rejects, at most
MAX_LISTED_ERRORS named, duplicate ids after the schema. Pure: no database."""
import copy
import random

import pytest

from app.wire.dump import DUMP, DUMP_KEYS, MAX_LISTED_ERRORS, InvalidDump, check_dump, dump_errors
from tests.fixtures.dumps import make_dump

VALUES = ["1", 1, 0, -1, 1.0, 2.5, True, None, [], [1, 2], ["1"], {}, {"$gt": 1}, "$where", 2**63, 2**63 - 1]


def refused(dump) -> InvalidDump:
    with pytest.raises(InvalidDump) as raised:
        check_dump(dump)
    return raised.value


def test_a_valid_dump_passes():
    check_dump(make_dump(n_services=10, n_users=20, seed=1))


def test_every_bad_field_is_named_at_once():
    dump = make_dump(n_services=10, n_users=20, seed=1)
    dump["services"][0]["id"] = "1"
    dump["users"][5]["categories"] = [1, "x"]
    del dump["platforms"]
    error = refused(dump)
    assert set(error.errors) == {"services.0.id", "users.5.categories.1", "platforms"}
    assert error.message == "Input payload validation failed: 3 problem(s)"


def test_an_id_written_as_a_float_is_refused():
    dump = make_dump(n_services=3, n_users=3, seed=1)
    dump["services"][1]["id"] = 2.0
    assert refused(dump).errors == {"services.1.id": "2.0 is not of type 'integer'"}


def test_a_body_that_is_not_an_object_is_named_as_the_whole():
    assert refused([]).errors == {"$": "[] is not of type 'object'"}


def test_a_dump_wrong_everywhere_lists_the_top_level_first_and_stops_at_the_limit():
    dump = make_dump(n_services=400, n_users=10, seed=3)
    del dump["trls"]
    for service in dump["services"]:
        service.update(id="x", name=5, horizontal=None)
    error = refused(dump)
    assert len(error.errors) == MAX_LISTED_ERRORS
    assert error.message == f"Input payload validation failed: first {MAX_LISTED_ERRORS} problems listed"
    assert list(error.errors)[:2] == ["trls", "services.0.id"]


def test_duplicate_ids_are_named_once_the_schema_passes():
    dump = make_dump(n_services=10, n_users=20, seed=1)
    dump["users"][4]["id"] = dump["users"][2]["id"]
    assert refused(dump).errors == {"users.4.id": f"duplicate id {dump['users'][2]['id']} (also at users.2)"}


def test_the_compiled_check_agrees_with_jsonschema_on_random_damage():
    rng = random.Random(0)
    base = make_dump(n_services=6, n_users=6, seed=2)
    for _ in range(400):
        dump = copy.deepcopy(base)
        key = rng.choice(DUMP_KEYS)
        item = rng.choice(dump[key])
        field = rng.choice([*item, "id"])
        if rng.random() < 0.15:
            item.pop(field, None)
        else:
            item[field] = rng.choice(VALUES)
        assert DUMP.quickly_valid(dump) == (not dump_errors(dump)), (key, field, item.get(field))
