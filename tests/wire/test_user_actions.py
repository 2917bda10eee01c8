"""The check of a POST /user_actions body: one action or an array of them, errors keyed
by item index, a null root as absent; the CLI's check is the API's. Pure: no services."""
import copy

import pytest

from app.cli.data import check_user_actions
from app.wire.checked_model import InvalidPayload
from app.wire.user_actions import checked_actions
from tests.wire.conftest import refused_by_api

ACTION = {
    "user_id": 1234, "aai_uid": "abc@egi.eu", "unique_id": "5642c351-80fe-44cf-b606-304f2f338122",
    "timestamp": "2021-03-18T19:33:21.620Z", "client_id": "marketplace",
    "source": {"visit_id": "202090a4-de4c-4230-acba-6e2931d9e37c", "page_id": "/services",
               "root": {"type": "recommendation_panel", "panel_id": "v1", "resource_type": "service",
                        "resource_id": 1234}},
    "target": {"visit_id": "9f543b80-dd5b-409b-a619-6312a0b04f4f", "page_id": "/services/egi-cloud-compute"},
    "action": {"type": "button", "text": "Details", "order": True},
}


def action(**changes) -> dict:
    return {**copy.deepcopy(ACTION), **changes}


def refused(body) -> dict:
    with pytest.raises(InvalidPayload) as raised:
        checked_actions(body)
    return raised.value.errors


def test_one_action_or_an_array_of_them():
    assert checked_actions(action()) == ([action()], True)
    assert checked_actions([action(), action(user_id=None)]) == ([action(), action(user_id=None)], False)


def test_a_null_root_is_a_follow_up_as_if_absent():
    follow_up = action(source={**ACTION["source"], "root": None})
    actions, _ = checked_actions([follow_up])
    assert "root" not in actions[0]["source"]


def test_errors_of_an_array_are_keyed_by_item_index():
    body = [action(), action(timestamp="yesterday"), 5]
    assert refused(body) == {"1.timestamp": "'yesterday' is not a 'date-time'", "2": "5 is not of type 'object'"}


def test_a_body_neither_an_action_nor_an_array_is_named_as_the_whole():
    assert refused("action") == {"$": "expected an action object or an array of them"}
    assert refused(None) == {"$": "expected an action object or an array of them"}


BAD_BATCHES = [
    [action(unique_id="not-a-uuid")],
    [action(), action(source={"visit_id": "visit-1", "page_id": {"$ne": None}})],
    [action(user_id="12", action={"type": "button", "text": None}), {}],
    [action(source={**ACTION["source"], "root": {"panel_id": "v3", "resource_id": -1}})],
]


@pytest.mark.parametrize("batch", BAD_BATCHES)
def test_the_cli_and_the_api_name_the_same_errors(api_without_services, batch):
    with pytest.raises(InvalidPayload) as raised:
        check_user_actions(copy.deepcopy(batch))
    assert raised.value.errors == refused_by_api(api_without_services, "/user_actions", batch)
