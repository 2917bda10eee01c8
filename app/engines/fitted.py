"""Fitted models as plain arrays plus JSON-able parameters, so they save without pickle.

`to_arrays()` suits `numpy.savez` or safetensors, `params()` suits `json.dumps`;
`from_arrays(arrays, params)` rebuilds the model from the two.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import ClassVar

import numpy as np

from app.engines.base import Engine
from app.engines.catalogue import IdIndex


class FittedModel:
    """Mixin for a dataclass with `hyperparameters` (a dataclass), `reference_time` and array fields."""

    array_fields: ClassVar[tuple[str, ...]]  # names of the (…) np.ndarray fields
    # Arrays added after versions were stored without them: None when a stored version lacks one.
    optional_array_fields: ClassVar[tuple[str, ...]] = ()
    hyperparameters_class: ClassVar[type]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every array of the model by name."""
        arrays = {name: getattr(self, name) for name in self.array_fields}
        return {name: array for name, array in arrays.items() if array is not None}

    def params(self) -> dict:
        """The hyperparameters and the reference time, JSON-able."""
        return {**asdict(self.hyperparameters), "reference_time": self.reference_time}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], params: dict):
        """The model `to_arrays()` and `params()` describe."""
        params = dict(params)
        reference_time = float(params.pop("reference_time"))
        missing = [name for name in cls.array_fields if name not in arrays and name not in cls.optional_array_fields]
        if missing:
            raise KeyError(f"{cls.__name__} needs the arrays {missing}")
        return cls(hyperparameters=cls.hyperparameters_class(**params), reference_time=reference_time,
                   **{name: np.asarray(arrays[name]) if name in arrays else None for name in cls.array_fields})


class FittedEngine(Engine):
    """An engine that answers from a fitted model (with a `service_ids` array); not ready without one."""

    def __init__(self, model: FittedModel | None = None):
        self.model = model
        self.index = IdIndex(model.service_ids if model is not None else np.empty(0, np.int64))

    @property
    def ready(self) -> bool:
        return self.model is not None
