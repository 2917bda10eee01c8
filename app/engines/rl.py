"""RL serving: a trained actor as numpy arrays picks a panel of K distinct services.

The state of a visitor is [mean embedding of their declared features, mean
embedding of their last N services] (2d,), where a feature's embedding (e.g. a
category's) is the mean embedding of the services that have it. The actor maps
the state to K weight vectors in service-embedding space; slot j takes the
eligible candidate with the highest affinity not taken by an earlier slot, where
affinity = prior(service) + dot(weight_j, embedding). The prior, when the model
has one, is the log share of users who took the service in the training snapshot:
the actor learns corrections on top of popularity (a residual policy), because
content embeddings alone carry no popularity. Models saved without a prior score
by the dot product alone, as before. Training lives in app/rl; here only numpy runs.

Scores encode the slate: the service in slot j scores (K - j) + sigmoid(affinity),
so the base engine's top-k reproduces the slate; a candidate left out scores
sigmoid(its best affinity) < 1, and a service without an embedding scores 0.

Exploration is epsilon-greedy over whole panels: with chance epsilon the panel is K
distinct candidates drawn uniformly (among those with an embedding), else the
actor's slate. Unlike noise on the actor's weights, this gives every shown
service an exact inclusion probability, (1 - epsilon)·[in the actor's slate] +
epsilon·K / n, which the serving log keeps for off-policy evaluation.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from functools import cached_property

import numpy as np

from app.engines.base import Evidence, EvidenceKind, RecommendationContext, Recommendations
from app.engines.catalogue import IdIndex
from app.engines.fitted import FittedEngine


@dataclass(frozen=True)
class RLParams:
    """What serving needs besides the arrays."""

    k_max: int = 3  # slots the actor was trained for; a request for fewer uses the first ones
    history_length: int = 10  # the last N services of the history make the state
    history_skip: bool = False  # the actor adds the state's history half to each slot before tanh
    user_feature_fields: tuple[str, ...] = ("categories", "scientific_domains")


@dataclass(frozen=True, eq=False)
class StateEncoder:
    """Visitor → (2d,) float32 state, from service embeddings and feature embeddings."""

    service_ids: np.ndarray  # (s,) int64 sorted
    service_embeddings: np.ndarray  # (s, d) float32
    feature_field: np.ndarray  # (v,) int64 position in user_feature_fields
    feature_value: np.ndarray  # (v,) int64 e.g. a category id
    feature_vectors: np.ndarray  # (v, d) float32
    history_length: int
    user_feature_fields: tuple[str, ...]

    @property
    def state_size(self) -> int:
        return 2 * self.service_embeddings.shape[1]

    @cached_property
    def service_index(self) -> IdIndex:
        return IdIndex(self.service_ids)

    def embeddings_of(self, service_ids) -> tuple[np.ndarray, np.ndarray]:
        """(n, d) embeddings of the given ids (zeros where unknown) and (n,) known mask."""
        rows, known = self.service_index.positions(np.asarray(service_ids, dtype=np.int64).reshape(-1))
        return np.where(known[:, None], self.service_embeddings[rows], 0.0).astype(np.float32), known

    def state(self, user_features: Mapping[str, Sequence[int]], history_ids) -> np.ndarray:
        """(2d,) float32: mean of the declared features' vectors, mean of the last N known history services."""
        d = self.service_embeddings.shape[1]
        wanted = np.zeros(self.feature_value.size, bool)  # (v,)
        for position, field in enumerate(self.user_feature_fields):
            wanted |= (self.feature_field == position) & np.isin(self.feature_value, list(user_features.get(field, ())))
        user_part = self.feature_vectors[wanted].mean(axis=0) if wanted.any() else np.zeros(d, np.float32)
        vectors, known = self.embeddings_of(history_ids)
        recent = vectors[known][-self.history_length:]  # (<=N, d) oldest first
        history_part = recent.mean(axis=0) if recent.size else np.zeros(d, np.float32)
        return np.concatenate([user_part, history_part]).astype(np.float32)


def affinities(weights: np.ndarray, embeddings: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
    """(K, d) weights, (n, d) embeddings, optional (n,) prior → (K, n) float64 prior + dot(weight, embedding)."""
    affinity = weights.astype(np.float64) @ embeddings.astype(np.float64).T  # (K, n)
    return affinity if prior is None else affinity + np.asarray(prior, np.float64)[None, :]


def select_services(weights: np.ndarray, embeddings: np.ndarray, eligible: np.ndarray,
                    prior: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy slate: (K, d) weights, (n, d) embeddings, (n,) bool, optional (n,) prior → positions (<=K,)
    int64 and affinities (<=K,).

    Slot j takes the eligible row with the highest prior + dot(weights[j], row) not taken before
    (ties: the first row); fewer than K when fewer rows are eligible.
    """
    affinity = affinities(weights, embeddings, prior)  # (K, n)
    open_rows = np.asarray(eligible, bool).copy()
    positions, chosen = [], []
    for slot in range(weights.shape[0]):
        if not open_rows.any():
            break
        row = int(np.argmax(np.where(open_rows, affinity[slot], -np.inf)))
        positions.append(row)
        chosen.append(affinity[slot, row])
        open_rows[row] = False
    return np.array(positions, dtype=np.int64), np.array(chosen, dtype=np.float64)


def actor_forward(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], states: np.ndarray,
                  k: int, history_skip: bool = False) -> np.ndarray:
    """(b, 2d) states → (b, k, d) weight vectors: ReLU between layers, tanh at the end (as the torch actor)."""
    x = states.astype(np.float32)
    for weight, bias in zip(weights[:-1], biases[:-1]):
        x = np.maximum(x @ weight + bias, 0.0)
    out = (x @ weights[-1] + biases[-1]).reshape(states.shape[0], k, -1)  # (b, k, d)
    if history_skip:
        out = out + states[:, None, out.shape[2]:].astype(np.float32)
    return np.tanh(out)


_ENCODER_ARRAYS = ("service_ids", "service_embeddings", "feature_field", "feature_value", "feature_vectors")


@dataclass(frozen=True, eq=False)
class RLModel:
    """A trained actor as plain float32 arrays (weights are (in, out): x @ W + b) and its state encoder."""

    hyperparameters: RLParams
    encoder: StateEncoder
    actor_weight: tuple[np.ndarray, ...]  # (2d, h), (h, h), (h, k_max * d)
    actor_bias: tuple[np.ndarray, ...]
    service_prior: np.ndarray | None = None  # (s,) float32 log share of takers, aligned with encoder.service_ids

    @property
    def service_ids(self) -> np.ndarray:
        return self.encoder.service_ids

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every array by name; actor layers as `actor_weight_0`, `actor_bias_0`, ..."""
        arrays = {name: getattr(self.encoder, name) for name in _ENCODER_ARRAYS}
        for i, (weight, bias) in enumerate(zip(self.actor_weight, self.actor_bias)):
            arrays[f"actor_weight_{i}"], arrays[f"actor_bias_{i}"] = weight, bias
        if self.service_prior is not None:
            arrays["service_prior"] = self.service_prior
        return arrays

    def params(self) -> dict:
        """JSON-able parameters."""
        return {**asdict(self.hyperparameters), "user_feature_fields": list(self.hyperparameters.user_feature_fields)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], params: Mapping) -> RLModel:
        """The model `to_arrays()` and `params()` describe (a version saved before the prior has none)."""
        known = {f.name for f in fields(RLParams)}  # versions saved before a field was dropped still load
        hyperparameters = RLParams(**{name: value for name, value in params.items() if name in known}
                                   | {"user_feature_fields": tuple(params["user_feature_fields"])})
        encoder = StateEncoder(**{name: np.asarray(arrays[name]) for name in _ENCODER_ARRAYS},
                               history_length=hyperparameters.history_length,
                               user_feature_fields=hyperparameters.user_feature_fields)
        layers = sum(1 for name in arrays if name.startswith("actor_weight_"))
        weights = tuple(np.asarray(arrays[f"actor_weight_{i}"], np.float32) for i in range(layers))
        biases = tuple(np.asarray(arrays[f"actor_bias_{i}"], np.float32) for i in range(layers))
        prior = np.asarray(arrays["service_prior"], np.float32) if "service_prior" in arrays else None
        return cls(hyperparameters, encoder, weights, biases, prior)

    def prior_of(self, service_ids) -> np.ndarray | None:
        """(n,) float64 prior of the given ids (the lowest prior where unknown), or None without a prior."""
        if self.service_prior is None:
            return None
        rows, known = self.encoder.service_index.positions(np.asarray(service_ids, dtype=np.int64).reshape(-1))
        return np.where(known, self.service_prior[rows], self.service_prior.min(initial=0.0)).astype(np.float64)

    def slot_weights(self, state: np.ndarray, k: int) -> np.ndarray:
        """(2d,) state → (min(k, k_max), d) weight vectors."""
        hyperparameters = self.hyperparameters
        return actor_forward(self.actor_weight, self.actor_bias, state[None], hyperparameters.k_max,
                             hyperparameters.history_skip)[0][:k]


@dataclass(frozen=True, eq=False)
class Slate:
    """One panel: the shown candidates in slot order, with what scoring and logging need."""

    ids: np.ndarray  # (m,) int64, m <= k
    affinities: np.ndarray  # (m,) prior + dot(slot weight, embedding) of each shown service
    probabilities: np.ndarray  # (m,) chance that the policy shows each
    best: np.ndarray  # (c,) every candidate's best affinity over the slots, nan without an embedding


class RL(FittedEngine):
    """K distinct candidates chosen slot by slot by the actor of a TD3 agent."""

    name = "RL"

    def __init__(self, model: RLModel | None = None, exploration_epsilon: float = 0.0):
        super().__init__(model)
        if not 0.0 <= exploration_epsilon <= 1.0:
            raise ValueError(f"exploration_epsilon must be in [0, 1], not {exploration_epsilon}")
        self.exploration_epsilon = exploration_epsilon
        self.deterministic = exploration_epsilon == 0

    def recommend(self, context: RecommendationContext) -> Recommendations:
        """The slate, drawn once (scoring it through the base class would draw twice)."""
        self._require_ready()
        slate = self._slate(context)
        scores = self._slate_scores(slate)
        evidence = tuple(self._evidence(context, slate.ids, scores))
        return Recommendations(slate.ids, scores, evidence, slate.probabilities if not self.deterministic else None)

    def _slate(self, context: RecommendationContext) -> Slate:
        encoder = self.model.encoder
        state = encoder.state(context.user_features, context.interactions.service_ids)  # (2d,)
        weights = self.model.slot_weights(state, context.k).astype(np.float64)  # (k, d)
        embeddings, known = encoder.embeddings_of(context.candidates)  # (c, d), (c,)
        prior = self.model.prior_of(context.candidates)  # (c,) or None
        affinity = affinities(weights, embeddings, prior)  # (k, c)
        greedy, _ = select_services(weights, embeddings, known, prior)
        epsilon, n = self.exploration_epsilon, int(known.sum())
        shown = greedy
        if epsilon > 0:
            rng = np.random.default_rng(context.seed)
            if rng.random() < epsilon:
                shown = rng.choice(np.flatnonzero(known), greedy.size, replace=False)
        probabilities = (1.0 - epsilon) * np.isin(shown, greedy) + epsilon * (greedy.size / n if n else 1.0)
        slots = np.arange(shown.size)
        best = affinity.max(axis=0) if weights.size else np.zeros(known.size)
        return Slate(context.candidates[shown], affinity[slots, shown], probabilities, np.where(known, best, np.nan))

    @staticmethod
    def _slate_scores(slate: Slate) -> np.ndarray:
        """Slot j of m scores (m - j) + sigmoid(affinity): descending, and above every left-out candidate."""
        return (slate.ids.size - np.arange(slate.ids.size)) + _sigmoid(slate.affinities)

    def _score(self, context: RecommendationContext, service_ids: np.ndarray) -> np.ndarray:
        slate = self._slate(context)
        in_slate = dict(zip(slate.ids.tolist(), self._slate_scores(slate).tolist()))
        left_out = dict(zip(context.candidates.tolist(), _sigmoid(np.nan_to_num(slate.best, nan=-np.inf)).tolist()))
        # A service that is no candidate, or has no embedding, scores 0.
        return np.array([in_slate.get(s, left_out.get(s, 0.0)) for s in service_ids.tolist()], dtype=np.float64)

    def _evidence(self, context: RecommendationContext, ids: np.ndarray, scores: np.ndarray) -> list[Evidence]:
        return [Evidence(EvidenceKind.PERSONAL, strength=float(score)) for score in scores]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
