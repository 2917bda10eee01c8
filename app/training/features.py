"""Multi-hot features of users and services, with vocabularies that travel as JSON.

A vocabulary maps each (field, value) seen at fitting time to one column. It is
a plain dict, so it is saved beside a model and read back without the data it
came from; a user or service that arrives later is encoded with it as it is,
values the vocabulary has never seen being ignored (no retraining needed).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

USER_FIELDS = ("categories", "scientific_domains")
SERVICE_FIELDS = ("countries", "categories", "providers", "resource_organisation", "scientific_domains",
                  "platforms", "target_users", "access_modes", "access_types", "trls", "life_cycle_statuses",
                  "research_steps", "horizontal")


def value_key(value) -> str:
    """A field value as a vocabulary key: JSON object keys are strings, and True must not become "1"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_keys(record: Mapping, field: str) -> list[str]:
    """The keys of one field of a record: a list gives each item, a scalar one key, null none."""
    value = record.get(field)
    if value is None:
        return []
    values = value if isinstance(value, (list, tuple)) else [value]
    return [value_key(v) for v in values if v is not None]


def _sort_key(key: str) -> tuple:
    """Numeric keys in numeric order first, then the others alphabetically, so fitting is deterministic."""
    try:
        return (0, float(key), key)
    except ValueError:
        return (1, 0.0, key)


class MultiHotEncoder:
    """Records (dicts) → (n, width) float32 rows with a 1 in the column of each known (field, value)."""

    def __init__(self, fields: Sequence[str], vocabulary: Mapping[str, Mapping[str, int]]):
        self.fields = tuple(fields)
        self.vocabulary = {field: {str(k): int(c) for k, c in vocabulary.get(field, {}).items()}
                           for field in self.fields}
        columns = sorted(c for keys in self.vocabulary.values() for c in keys.values())
        if columns != list(range(len(columns))):
            raise ValueError("vocabulary columns must be 0..width-1, each once")
        self.width = len(columns)

    @classmethod
    def fit(cls, records: Iterable[Mapping], fields: Sequence[str]) -> MultiHotEncoder:
        """One column per (field, value) seen in `records`, fields in the given order."""
        seen: dict[str, set[str]] = {field: set() for field in fields}
        for record in records:
            for field in fields:
                seen[field].update(field_keys(record, field))
        vocabulary, column = {}, 0
        for field in fields:
            keys = sorted(seen[field], key=_sort_key)
            vocabulary[field] = {key: column + i for i, key in enumerate(keys)}
            column += len(keys)
        return cls(fields, vocabulary)

    def encode(self, records: Sequence[Mapping]) -> np.ndarray:
        """(n, width) float32 multi-hot rows; unknown fields and values are ignored."""
        encoded = np.zeros((len(records), self.width), dtype=np.float32)
        for row, record in enumerate(records):
            encoded[row, self.columns_of(record)] = 1.0
        return encoded

    def columns_of(self, record: Mapping) -> list[int]:
        """The columns a record sets."""
        return [self.vocabulary[field][key] for field in self.fields for key in field_keys(record, field)
                if key in self.vocabulary[field]]

    def to_dict(self) -> dict:
        """JSON-able: `MultiHotEncoder.from_dict(json.loads(json.dumps(e.to_dict())))` encodes as `e`."""
        return {"fields": list(self.fields), "vocabulary": {f: dict(v) for f, v in self.vocabulary.items()}}

    @classmethod
    def from_dict(cls, data: Mapping) -> MultiHotEncoder:
        """The encoder `to_dict()` describes."""
        return cls(data["fields"], data["vocabulary"])

    def integer_vocabulary(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The integer-valued entries as arrays, for engines that cannot read JSON vocabularies:
        field position (v,) int64, value (v,) int64 and column (v,) int64."""
        rows = [(i, int(key), column) for i, field in enumerate(self.fields)
                for key, column in self.vocabulary[field].items() if key.lstrip("-").isdigit()]
        if not rows:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
        field_positions, values, columns = (np.array(column, dtype=np.int64) for column in zip(*rows))
        return field_positions, values, columns


def user_encoder(users: Iterable[Mapping]) -> MultiHotEncoder:
    """The encoder of the dump's users' categories and scientific domains."""
    return MultiHotEncoder.fit(users, USER_FIELDS)


def service_encoder(services: Iterable[Mapping]) -> MultiHotEncoder:
    """The encoder of the dump's services' descriptive fields."""
    return MultiHotEncoder.fit(services, SERVICE_FIELDS)
