"""Fitted models save as plain arrays plus JSON and load back without pickle."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

from app.engines import (
    Interactions,
    InteractionType,
    Popularity,
    PopularityModel,
    RecommendationContext,
    Session,
    SessionModel,
    fit_popularity,
    fit_session,
)
from tests.engines.toy_marketplace import toy_marketplace

TOY = toy_marketplace()
FITTED = {
    "Popularity": (Popularity, PopularityModel,
                   lambda: fit_popularity(TOY.service_ids, TOY.types, TOY.timestamps, TOY.categories)),
    "Session": (Session, SessionModel, lambda: fit_session(TOY.user_ids, TOY.service_ids, TOY.types, TOY.timestamps)),
}
CONTEXT = RecommendationContext(
    candidates=TOY.services, k=5, now=TOY.now, history=TOY.history_of(3),
    session=Interactions(np.array([204]), np.array([InteractionType.CLICK]), np.array([TOY.now])))


def _through_npz(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as loaded:
        return {name: loaded[name] for name in loaded.files}


def _through_safetensors(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return load_safetensors(save_safetensors({name: np.ascontiguousarray(a) for name, a in arrays.items()}))


@pytest.mark.parametrize("store", [_through_npz, _through_safetensors], ids=["npz", "safetensors"])
@pytest.mark.parametrize("name", list(FITTED))
def test_a_saved_model_answers_as_the_fitted_one(name, store):
    engine_class, model_class, fit = FITTED[name]
    model = fit()
    arrays = model.to_arrays()
    assert all(isinstance(a, np.ndarray) and a.dtype != object for a in arrays.values())
    loaded = model_class.from_arrays(store(arrays), json.loads(json.dumps(model.params())))
    assert loaded.params() == model.params()
    fitted_answer, loaded_answer = engine_class(model).recommend(CONTEXT), engine_class(loaded).recommend(CONTEXT)
    assert len(fitted_answer) > 0
    np.testing.assert_array_equal(loaded_answer.ids, fitted_answer.ids)
    np.testing.assert_array_equal(loaded_answer.scores, fitted_answer.scores)
    assert loaded_answer.evidence == fitted_answer.evidence
