"""Feature vocabularies travel as JSON, and encode records they have never seen."""
from __future__ import annotations

import json

import numpy as np

from app.training.features import (
    SERVICE_FIELDS,
    MultiHotEncoder,
    service_encoder,
    user_encoder,
)

SERVICES = [
    {"id": 10, "countries": ["PL", "DE"], "categories": [3, 12], "providers": [1], "resource_organisation": 1,
     "scientific_domains": [7], "platforms": [], "target_users": [2], "access_modes": [1], "access_types": [],
     "trls": [9], "life_cycle_statuses": [], "research_steps": [4], "horizontal": False},
    {"id": 11, "countries": ["WW"], "categories": [3], "providers": [2, 1], "resource_organisation": 2,
     "scientific_domains": [], "platforms": [5], "target_users": [], "access_modes": [], "access_types": [1],
     "trls": [8], "life_cycle_statuses": [2], "research_steps": [], "horizontal": True},
]


def _columns(encoder: MultiHotEncoder, row: np.ndarray) -> set[tuple[str, str]]:
    names = {column: (field, key) for field, keys in encoder.vocabulary.items() for key, column in keys.items()}
    return {names[c] for c in np.flatnonzero(row)}


def test_each_field_value_gets_one_column():
    encoder = service_encoder(SERVICES)
    assert encoder.fields == SERVICE_FIELDS
    assert encoder.vocabulary["countries"] == {"DE": 0, "PL": 1, "WW": 2}
    assert encoder.vocabulary["categories"] == {"3": 3, "12": 4}
    assert encoder.vocabulary["horizontal"] == {"false": encoder.width - 2, "true": encoder.width - 1}
    encoded = encoder.encode(SERVICES)
    assert encoded.shape == (2, encoder.width) and encoded.dtype == np.float32
    assert ("resource_organisation", "2") in _columns(encoder, encoded[1])
    assert ("providers", "2") in _columns(encoder, encoded[1]) and ("providers", "1") in _columns(encoder, encoded[1])
    # PL, DE, 3, 12, provider 1, organisation 1, domain 7, target users 2, mode 1, trl 9, step 4, not horizontal
    assert encoded[0].sum() == 12
    assert encoded[0, encoder.vocabulary["horizontal"]["false"]] == 1


def test_round_trip_through_json_encodes_alike():
    encoder = service_encoder(SERVICES)
    loaded = MultiHotEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    np.testing.assert_array_equal(loaded.encode(SERVICES), encoder.encode(SERVICES))
    assert loaded.width == encoder.width


def test_a_new_service_encodes_without_refitting_and_unknown_values_are_ignored():
    encoder = MultiHotEncoder.from_dict(json.loads(json.dumps(service_encoder(SERVICES).to_dict())))
    new_service = {"id": 99, "countries": ["FR", "PL"], "categories": [12, 400], "providers": [77],
                   "resource_organisation": None, "horizontal": True, "unknown_field": [1]}
    row = encoder.encode([new_service])[0]
    assert _columns(encoder, row) == {("countries", "PL"), ("categories", "12"), ("horizontal", "true")}


def test_a_user_without_features_encodes_to_zeros():
    users = [{"id": 1, "categories": [2], "scientific_domains": [5, 6]}, {"id": 2, "categories": []}]
    encoder = user_encoder(users)
    encoded = encoder.encode(users + [{"id": 3}])
    assert encoded.sum(axis=1).tolist() == [3.0, 0.0, 0.0]


def test_integer_vocabulary_for_engines():
    encoder = user_encoder([{"categories": [2, 10], "scientific_domains": [5]}])
    fields, values, columns = encoder.integer_vocabulary()
    assert list(zip(fields.tolist(), values.tolist(), columns.tolist())) == [(0, 2, 0), (0, 10, 1), (1, 5, 2)]
