"""The check of a POST /events batch; the CLI's check is the API's. Pure: no services."""
import copy

import pytest

from app.cli.data import check_events
from app.storage.interactions import Event
from app.wire.checked_model import InvalidPayload
from app.wire.events import EVENT_BATCH, EVENT_TYPES
from tests.wire.conftest import refused_by_api


def view(**changes) -> dict:
    event = {"user_id": 7, "service_id": 12, "type": "view", "timestamp": "2021-03-18T19:33:21.620Z",
             "params": {"source": "search", "position": 3}}
    return {key: value for key, value in {**event, **changes}.items() if value != "DROP"}


def test_a_valid_batch_passes():
    EVENT_BATCH.check({"events": [view(), view(type="rating", value=4.5, user_id=None,
                                               unique_id="5642c351-80fe-44cf-b606-304f2f338122")]})


def test_every_bad_field_is_named_with_the_events_index():
    body = {"events": [view(), view(type="purchase", service_id="DROP", params={"$where": "1", "a.b": 1})]}
    with pytest.raises(InvalidPayload) as raised:
        EVENT_BATCH.check(body)
    assert set(raised.value.errors) == {"events.1.type", "events.1.service_id", "events.1.params.$where",
                                        "events.1.params.a.b"}


def test_the_stored_event_takes_the_types_the_wire_accepts():
    assert Event.type.choices == EVENT_TYPES


BAD_BATCHES = [
    [view(type="purchase")],
    [view(), view(timestamp="2021-02-30T10:00:00Z", unique_id="visitor-1")],
    [view(user_id={"$gt": 0}, value="five", params={"nested": {"x": 1}}), None],
    [view(service_id="DROP", params={"k": "x" * 1025})],
]


@pytest.mark.parametrize("events", BAD_BATCHES)
def test_the_cli_and_the_api_name_the_same_errors(api_without_services, events):
    with pytest.raises(InvalidPayload) as raised:
        check_events(copy.deepcopy(events))
    assert raised.value.errors == refused_by_api(api_without_services, "/events", {"events": events})
