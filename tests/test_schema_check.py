"""The compiled schema check answers as jsonschema does on the wire's payload models."""
import copy
import random

import pytest
from jsonschema import Draft4Validator, FormatChecker

from app.schema_check import UnsupportedSchema, compile_checker
from app.wire.dump import DUMP
from app.wire.recommendation_requests import RECOMMENDATION_REQUEST, SCORE_REQUEST
from tests.fixtures.dumps import make_dump

FORMATS = FormatChecker()
REQUEST = {
    "unique_id": "5642c351-80fe-44cf-b606-304f2f338122", "timestamp": "2021-03-18T18:49:55.006Z",
    "visit_id": "202090a4-de4c-4230-acba-6e2931d9e37c", "page_id": "/services", "panel_id": "v1",
    "client_id": "marketplace", "engine_version": "NCF", "user_id": 12, "aai_uid": "someone@egi.eu", "k": 3,
    "search_data": {"q": "", "categories": [1, 2], "geographical_availabilities": ["PL"], "order_type": None,
                    "providers": [3], "rating": "", "related_platforms": [], "scientific_domains": [4],
                    "sort": "_score", "target_users": [5]},
    "candidates": [1, 2, 3], "exclude": [4],
    "session": [{"service_id": 1, "type": "view", "timestamp": "2021-03-18T18:49:50Z"}],
    "user_features": {"categories": [1], "scientific_domains": [2]},
}
# Values a client might send in place of any field: every JSON type, edges of every bound.
VALUES = [
    None, True, False, 0, 1, -1, 3, 100, 101, 1.0, 2.5, 2**63 - 1, 2**63, "", "x", "1", "v1", "v3", "service",
    "marketplace", "2021-03-18T18:49:55Z", "2021-02-30T00:00:00Z", "yesterday",
    "5642c351-80fe-44cf-b606-304f2f338122", "not-a-uuid", "x" * 33, "x" * 257, [], [1], [1, 2], ["1"], [1.0],
    [True], [-1], [2**63], [None], list(range(201)), {}, {"$gt": 0}, {"categories": [1]},
    [{"service_id": 1, "type": "view", "timestamp": "2021-03-18T18:49:50Z"}],
    [{"service_id": 1, "type": "view"}], [{"service_id": "1", "type": "view", "timestamp": "2021-03-18T18:49:50Z"}],
]


def damaged(rng: random.Random, value):
    """A copy of `value` with one field, at any depth, replaced by a VALUES entry or removed."""
    value = copy.deepcopy(value)
    node = value
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return value
        key = rng.choice(keys)
        child = node[key]
        if isinstance(child, (dict, list)) and child and rng.random() < 0.5:
            node = child
            continue
        if isinstance(node, dict) and rng.random() < 0.15:
            del node[key]
        else:
            node[key] = copy.deepcopy(rng.choice(VALUES))
        return value


def every_single_change(value):
    """Copies of `value` with one field or list entry (the first of each list) replaced by
    each VALUES entry, or removed: every path, every value, unlike `damaged`'s sample."""
    paths, stack = [], [((), value)]
    while stack:
        path, node = stack.pop()
        children = node.items() if isinstance(node, dict) else enumerate(node[:1])
        for key, child in children:
            paths.append(path + (key,))
            if isinstance(child, (dict, list)):
                stack.append((path + (key,), child))
    for path in paths:
        for replacement in [*VALUES, "remove"]:
            payload = copy.deepcopy(value)
            parent = payload
            for key in path[:-1]:
                parent = parent[key]
            if replacement != "remove":
                parent[path[-1]] = copy.deepcopy(replacement)
            elif isinstance(parent, dict):
                del parent[path[-1]]
            else:
                continue
            yield payload


@pytest.mark.parametrize("model, valid", [
    (RECOMMENDATION_REQUEST, REQUEST),
    (SCORE_REQUEST, {**REQUEST, "service_ids": [1, 2, 3]}),
])
def test_the_compiled_check_agrees_with_jsonschema_on_damaged_requests(model, valid):
    assert_agreement(model.json_schema(), valid)


def test_the_compiled_check_agrees_with_jsonschema_on_damaged_dumps():
    dump = {key: items[:2] for key, items in make_dump(n_services=2, n_users=2).items()}
    dump["services"][0].update(pid=None, status="published", required_services=[2])
    dump["services"][1]["pid"] = "21.T15999/abc"
    assert_agreement(DUMP.json_schema(), dump)


def assert_agreement(schema: dict, valid: dict) -> None:
    check, reference = compile_checker(schema, FORMATS), Draft4Validator(schema, format_checker=FORMATS)
    assert check(valid) and reference.is_valid(valid)
    changed = 0
    for payload in every_single_change(valid):
        assert check(payload) == reference.is_valid(payload), payload
        changed += 1
    assert changed > len(VALUES)
    rng, verdicts = random.Random(0), set()
    for _ in range(3000):
        payload = damaged(rng, valid)
        if rng.random() < 0.3:
            payload = damaged(rng, payload)
        expected = reference.is_valid(payload)
        assert check(payload) == expected, payload
        verdicts.add(expected)
    assert verdicts == {True, False}  # the damage reached both sides


def test_enum_values_keep_json_types_apart():
    check = compile_checker({"enum": [1, "a", None]})
    assert check(1) and check("a") and check(None)
    assert not check(True) and not check(1.0) and not check("1")


def test_keywords_apply_to_their_own_kind_only():
    check = compile_checker({"maxLength": 2, "maximum": 3, "maxItems": 1, "required": ["a"]})
    assert check("ab") and check(3) and check([0]) and check({"a": 1}) and check(None)
    assert not check("abc") and not check(4) and not check([0, 0]) and not check({})


def test_all_of_and_references():
    schema = {"definitions": {"Id": {"type": "integer", "minimum": 0}},
              "properties": {"a": {"allOf": [{"$ref": "#/definitions/Id"}, {"maximum": 9}]}}}
    check = compile_checker(schema)
    assert check({"a": 0}) and check({"a": 9}) and check({})
    assert not check({"a": -1}) and not check({"a": 10}) and not check({"a": "1"})


@pytest.mark.parametrize("schema", [
    {"type": "string", "pattern": "^a"},
    {"type": "array", "uniqueItems": True},
    {"enum": [[1]]},
])
def test_the_compiled_check_refuses_keywords_it_does_not_implement(schema):
    with pytest.raises(UnsupportedSchema):
        compile_checker(schema)


def test_a_format_needs_the_format_checker():
    with pytest.raises(UnsupportedSchema):
        compile_checker({"type": "string", "format": "uuid"})
    check = compile_checker({"type": "string", "format": "uuid"}, FORMATS)
    assert check("5642c351-80fe-44cf-b606-304f2f338122") and not check("not-a-uuid")
