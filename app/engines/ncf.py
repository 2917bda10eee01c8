"""NCF serving: a trained neural collaborative filtering model as numpy arrays, and two engines.

The model (see app/training/ncf_network.py) scores a (user, service) pair as
sigmoid(head · [user_gmf ⊙ service_gmf, MLP([user_mlp, service_mlp, user_content,
service_content])]). The first MLP layer is linear in its input, so its service
part and the service GMF factors (times the head's weights) are computed once at
load; a request is then one user vector and a few small matrix products over
the candidates, in numpy, without torch. Arrays are stored as float32.

A model trained with a history term (`history_length` L > 0) adds to user_gmf
the mean history factors of the L services of `context.taken` taken last (each
service once, at its latest taking; services without a trained row skipped):
taken services, as in training, not views, which the model never learnt from.
Models saved without the term have no such table and score as they always did.

A model may have a service side of its own for the click and cart objectives
(`objective_sides`; app/training/ncf_objectives.py): a request with such an
objective scores services with that side and the same user vector; any other
objective, and every objective of models saved before them, is served by the
order model.

In a large catalogue (`retrieval` settings, a model with retrieval arrays) the NCF engine
first retrieves the few hundred services an inner-product approximation of NCF ranks best
(app/engines/ncf_retrieval.py), and scores only those.

Who can be scored: a user with a trained row (with the features they had at
training time); else a visitor whose declared features (categories, scientific
domains) the vocabulary knows, through the user autoencoder's encoder and the
"no id" row, or, with a history term, whose history holds a service with a
trained row (with the content of declaring nothing when no feature is known);
else nobody, and the engines answer nothing so that the caller falls back to
another engine. Services without a trained row score 0.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from app.engines.base import (
    Evidence,
    EvidenceKind,
    RecommendationContext,
    Recommendations,
)
from app.engines.catalogue import IdIndex
from app.engines.fitted import FittedEngine
from app.engines.ncf_retrieval import (
    RETIRED_ARRAYS,
    RETRIEVAL_ARRAYS,
    RetrievalFit,
    RetrievalSettings,
    Retriever,
    fit_retrieval,
    has_retrieval,
)
from app.engines.score_cache import ScoreCache

_LAYERED = ("mlp_weight", "mlp_bias", "user_encoder_weight", "user_encoder_bias")  # saved as name_0, name_1, ...
# What an objective other than orders has of its own; everything else is shared with the order model.
OBJECTIVE_SIDE = ("service_gmf", "service_mlp", "head_weight", "head_bias")


@dataclass(frozen=True)
class NCFParams:
    """What serving needs besides the arrays."""

    user_feature_fields: tuple[str, ...] = ("categories", "scientific_domains")  # user_vocabulary_field indexes these
    similarity_threshold: float = 0.5  # cosine above which evidence names the most similar history service
    history_length: int = 0  # services of the history averaged into the user's GMF factors; 0: none


@dataclass(frozen=True, eq=False)
class NCFModel:
    """A trained NCF model as plain float32 arrays (weights are (in, out): x @ W + b)."""

    hyperparameters: NCFParams
    user_ids: np.ndarray  # (u,) int64 sorted: row r is user user_ids[r]
    service_ids: np.ndarray  # (s,) int64 sorted
    user_gmf: np.ndarray  # (u + 1, g): the last row is for a user without a trained row
    user_mlp: np.ndarray  # (u + 1, m)
    user_content: np.ndarray  # (u, cu) the user autoencoder's embeddings of the training users
    service_gmf: np.ndarray  # (s, g)
    service_mlp: np.ndarray  # (s, m)
    service_content: np.ndarray  # (s, ci)
    mlp_weight: tuple[np.ndarray, ...]  # (2m + cu + ci, h1), (h1, h2), ...; ReLU after each
    mlp_bias: tuple[np.ndarray, ...]  # (h1,), (h2,), ...
    head_weight: np.ndarray  # (g + h_last,)
    head_bias: np.ndarray  # (1,)
    user_encoder_weight: tuple[np.ndarray, ...]  # (fu, hidden), (hidden, cu): ReLU between, tanh after
    user_encoder_bias: tuple[np.ndarray, ...]
    user_vocabulary_field: np.ndarray  # (v,) int64 position in user_feature_fields
    user_vocabulary_value: np.ndarray  # (v,) int64 e.g. a category id
    user_vocabulary_column: np.ndarray  # (v,) int64 column of the multi-hot input
    service_history_gmf: np.ndarray | None = None  # (s, g) history factors; None in models without the term
    # The inner-product approximation that finds candidates in a large catalogue (app/engines/ncf_retrieval.py);
    # None in models saved before it, which score every candidate.
    retrieval_service: np.ndarray | None = None  # (s, r)
    retrieval_service_prior: np.ndarray | None = None  # (s,)
    retrieval_anchors: np.ndarray | None = None  # (a,) int64 service rows
    # Objectives other than orders with a service side of their own (app/training/ncf_objectives.py):
    # {objective: {name: array}} for the names in OBJECTIVE_SIDE, and RETRIEVAL_ARRAYS when fitted;
    # none in models saved before them.
    objective_sides: Mapping[str, Mapping[str, np.ndarray]] = field(default_factory=dict)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every array by name; layered ones as `mlp_weight_0`, `mlp_weight_1`, ...; an objective's
        side as `objective_click_service_gmf`, ..."""
        arrays = {}
        for name, value in vars(self).items():
            if name in _LAYERED:
                arrays.update({f"{name}_{i}": layer for i, layer in enumerate(value)})
            elif isinstance(value, np.ndarray):
                arrays[name] = value
        for objective, side in self.objective_sides.items():
            arrays.update({f"objective_{objective}_{name}": array for name, array in side.items()})
        return arrays

    @property
    def objectives(self) -> tuple[str, ...]:
        """The objectives served by a side of their own; any other is served by the order model."""
        return tuple(self.objective_sides)

    def for_objective(self, objective: str) -> NCFModel:
        """The model that serves `objective`: this one with that objective's service side (the same
        arrays, not copies), or this one itself when it has none."""
        side = self.objective_sides.get(objective)
        if side is None:
            return self
        retrieval = {name: side.get(name) for name in RETRIEVAL_ARRAYS}  # the order model's would mislead
        return replace(self, objective_sides={}, **{**side, **retrieval})

    def with_retrieval(self, fit: RetrievalFit | None = None) -> NCFModel:
        """This model with the retrieval arrays of its order model and of each objective's side
        (app/engines/ncf_retrieval.py), so that serving can narrow a large catalogue."""
        sides = {objective: {**side, **fit_retrieval(NCFScorer(self.for_objective(objective)), fit)}
                 for objective, side in self.objective_sides.items()}
        return replace(self, objective_sides=sides, **fit_retrieval(NCFScorer(self), fit))

    def params(self) -> dict:
        """JSON-able parameters."""
        return {**asdict(self.hyperparameters), "user_feature_fields": list(self.hyperparameters.user_feature_fields)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], params: dict) -> NCFModel:
        """The model `to_arrays()` and `params()` describe."""
        hyperparameters = NCFParams(**{**params, "user_feature_fields": tuple(params["user_feature_fields"])})
        layered = {name: tuple(np.asarray(arrays[key]) for key in _layer_keys(arrays, name)) for name in _LAYERED}
        layer_keys = {key for name in _LAYERED for key in _layer_keys(arrays, name)}
        arrays = {key: array for key, array in arrays.items() if not key.endswith(RETIRED_ARRAYS)}
        sides: dict[str, dict[str, np.ndarray]] = {}
        for key in arrays:
            for name in OBJECTIVE_SIDE + RETRIEVAL_ARRAYS:
                if key.startswith("objective_") and key.endswith(f"_{name}"):
                    sides.setdefault(key[len("objective_"):-len(name) - 1], {})[name] = np.asarray(arrays[key])
        side_keys = {f"objective_{objective}_{name}" for objective in sides for name in sides[objective]}
        plain = {name: np.asarray(a) for name, a in arrays.items() if name not in layer_keys | side_keys}
        return cls(hyperparameters=hyperparameters, **plain, **layered, objective_sides=sides)


def _layer_keys(arrays: dict[str, np.ndarray], name: str) -> list[str]:
    """`name_0`, `name_1`, ... as far as they go."""
    keys = []
    while f"{name}_{len(keys)}" in arrays:
        keys.append(f"{name}_{len(keys)}")
    return keys


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    """In float64, so that high scores do not all round to 1.0 and tie."""
    return 1.0 / (1.0 + np.exp(-logits))


class NCFScorer:
    """The model with its service-side work done once: score a user against any service rows.

    float32 throughout, with the sigmoid in float64. A service's score depends on which
    other services are scored with it only through float32 rounding, so a candidate list
    and the whole catalogue rank alike except between near-ties: BLAS matrix products may
    round a row differently with its place in the block (OpenBLAS 0.3.31's AVX-512 sgemm:
    rows six apart agree, neighbours differ in the last bit). The two products with a
    vector are einsums, which round every row alike wherever it stands.
    """

    def __init__(self, model: NCFModel):
        self.model = model
        m, cu = model.user_mlp.shape[1], model.user_content.shape[1]
        first = model.mlp_weight[0].astype(np.float32)  # (2m + cu + ci, h1)
        # Its rows take, in order: user id embedding, service id embedding, user content, service content.
        self.first_user_id, self.first_user_content = first[:m], first[2 * m:2 * m + cu]
        self.service_first = (model.service_mlp @ first[m:2 * m] + model.service_content @ first[2 * m + cu:]
                              + model.mlp_bias[0]).astype(np.float32)  # (s, h1)
        g = model.service_gmf.shape[1]
        self.service_gmf_weighted = (model.service_gmf * model.head_weight[:g]).astype(np.float32)  # (s, g)
        self.layers = [(w.astype(np.float32), b.astype(np.float32))
                       for w, b in zip(model.mlp_weight[1:], model.mlp_bias[1:])]
        self.head_mlp = model.head_weight[g:].astype(np.float32)  # (h_last,)
        self.service_index = IdIndex(model.service_ids)
        vectors = np.concatenate([model.service_gmf, model.service_mlp], axis=1)  # (s, g + m)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.service_unit = (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)  # for evidence
        self.nothing_declared = self.encode_columns(np.empty(0, np.int64))  # (cu,) content of no features

    @property
    def history_length(self) -> int:
        """How many of the latest services shift the user's GMF factors; 0 for a model without the term."""
        return self.model.hyperparameters.history_length if self.model.service_history_gmf is not None else 0

    def user_vector(self, row, content: np.ndarray | None = None,
                    history: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """GMF factors (g,) and first-layer part (h1,) of the user in `row`, or (b, g) and (b, h1) of
        an array of rows; row -1 with `content` (cu,) for a user without a trained row. `history`:
        service rows taken last, (L,) or (b, L), -1 for none (see `history_vectors`)."""
        content = self.model.user_content[row] if content is None else content
        first = self.model.user_mlp[row] @ self.first_user_id + content.astype(np.float32) @ self.first_user_content
        gmf = self.model.user_gmf[row].astype(np.float32)
        if history is not None and np.size(history) and self.history_length:
            windows = np.asarray(history, np.int64)
            shift = self.history_vectors(windows.reshape(-1, windows.shape[-1]))  # (b, g)
            gmf = gmf + (shift[0] if windows.ndim == 1 else shift)
        return gmf, first.astype(np.float32)

    def history_vectors(self, windows: np.ndarray) -> np.ndarray:
        """(b, L) service rows (-1: none) → (b, g) float32 mean of their history factors, 0 for none."""
        table = self.model.service_history_gmf
        taken = windows >= 0  # (b, L)
        total = (table[np.where(taken, windows, 0)] * taken[:, :, None]).sum(axis=1, dtype=np.float32)
        return (total / np.maximum(taken.sum(axis=1), 1)[:, None]).astype(np.float32)

    def history_rows(self, taken: np.ndarray) -> np.ndarray:
        """(≤ L,) rows of the latest `history_length` distinct services of `taken` (ids, oldest first)
        that have a trained row, oldest first; empty for a model without the term."""
        if not self.history_length or taken.size == 0:
            return np.empty(0, np.int64)
        rows, known = self.service_index.positions(taken[::-1])  # latest first
        rows = rows[known]
        _, first = np.unique(rows, return_index=True)  # each service at its latest interaction
        return rows[np.sort(first)[:self.history_length]][::-1]

    def encode_features(self, features) -> np.ndarray | None:
        """Declared features {field: ids} → (cu,) content embedding; None when no value is known."""
        model = self.model
        columns = [model.user_vocabulary_column[(model.user_vocabulary_field == i)
                                                & np.isin(model.user_vocabulary_value, features.get(field, ()))]
                   for i, field in enumerate(model.hyperparameters.user_feature_fields)]
        columns = np.concatenate(columns) if columns else np.empty(0, np.int64)
        if columns.size == 0:
            return None
        return self.encode_columns(columns)

    def encode_columns(self, columns: np.ndarray) -> np.ndarray:
        """(n,) multi-hot columns set (none: a user who declared nothing) → (cu,) content embedding."""
        model = self.model
        x = np.zeros(model.user_encoder_weight[0].shape[0], np.float32)  # (fu,)
        x[columns] = 1.0
        for weight, bias in zip(model.user_encoder_weight[:-1], model.user_encoder_bias[:-1]):
            x = np.maximum(x @ weight + bias, 0.0)
        return np.tanh(x @ model.user_encoder_weight[-1] + model.user_encoder_bias[-1])

    def scores(self, user_gmf: np.ndarray, user_first: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """(b, g) and (b, h1) float32 user vectors, (c,) service rows (None: every service, in row
        order) → (b, c) float64 scores in (0, 1)."""
        return _sigmoid(self.logits(user_gmf, user_first, rows).astype(np.float64))

    def logits(self, user_gmf: np.ndarray, user_first: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """(b, c) float32 logits of `scores`: half the bytes to keep, the same scores once turned into them."""
        # The whole catalogue is read where it lies: gathering it first cost two copies, of
        # (s, h1) and (s, g), a fifth of the time to score 10k services.
        service_gmf = self.service_gmf_weighted if rows is None else self.service_gmf_weighted[rows]  # (c, g)
        return (np.einsum("ck,bk->bc", service_gmf, user_gmf)
                + self.mlp_term(user_first, rows) + self.model.head_bias[0])  # (b, c)

    def mlp_term(self, user_first: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """(b, c) float32: the MLP tower's part of the logits (head's MLP weights included)."""
        if user_first.shape[0] == 1 and rows is not None:  # one user, as in serving: add in place
            hidden = np.take(self.service_first, rows, axis=0)  # (c, h1), a fresh array
            hidden += user_first[0]
            hidden = hidden[None]  # (1, c, h1)
        else:
            service_first = self.service_first if rows is None else self.service_first[rows]
            hidden = service_first[None, :, :] + user_first[:, None, :]  # (b, c, h1), a fresh array
        np.maximum(hidden, 0.0, out=hidden)
        for weight, bias in self.layers:
            hidden = hidden @ weight
            hidden += bias
            np.maximum(hidden, 0.0, out=hidden)  # (b, c, h)
        return np.einsum("bch,h->bc", hidden, self.head_mlp)


class NCF(FittedEngine):
    """The k candidates the NCF model scores highest for this user."""

    name = "NCF"

    def __init__(self, model: NCFModel | None = None, cache: ScoreCache | None = None,
                 retrieval: RetrievalSettings | None = None):
        """`cache`: where a trained user's scores over the whole catalogue are kept between requests
        (engines of the same model may share one); by default one of its own. `retrieval`: how a
        catalogue of at least `retrieval.min_candidates` services is narrowed before NCF scores it,
        for models with retrieval arrays; None scores every candidate."""
        super().__init__(model)
        self.user_index = IdIndex(model.user_ids if model is not None else np.empty(0, np.int64))
        self.scorer = NCFScorer(model) if model is not None else None
        # Objectives with a service side of their own score services with it; the user side is shared.
        self.objective_scorers = {objective: NCFScorer(model.for_objective(objective))
                                  for objective in (model.objectives if model is not None else ())}
        self.cache = cache if cache is not None else ScoreCache()
        self.retrievers = {}  # id(scorer) → Retriever, for scorers whose catalogue is large enough
        if retrieval is not None and not self.ranking and model is not None:
            for scorer in (self.scorer, *self.objective_scorers.values()):
                if has_retrieval(scorer.model) and scorer.model.service_ids.size >= retrieval.min_candidates:
                    self.retrievers[id(scorer)] = Retriever(scorer, retrieval, self.cache)

    def recommend(self, context: RecommendationContext) -> Recommendations:
        """With a retriever and enough candidates, NCF scores only the retrieved ones (the rest
        would not make the top k but by the approximation's error: benchmarks/retrieval.py)."""
        self._require_ready()
        narrowed = self._retrieved(context)
        return super().recommend(context if narrowed is None else replace(context, candidates=narrowed))

    def _retrieved(self, context: RecommendationContext) -> np.ndarray | None:
        """The candidates worth scoring, in the caller's order; None to score every one."""
        retriever = self.retrievers.get(id(self._service_scorer(context)))
        if retriever is None or context.candidates.size < retriever.settings.min_candidates:
            return None
        user = self._user(context)
        if user is None:
            return None  # nobody to retrieve for: every candidate scores 0 anyway
        rows, known = self.index.positions(context.candidates)
        allowed = np.zeros(self.model.service_ids.size, bool)
        allowed[rows[known]] = True
        chosen = np.zeros_like(allowed)
        chosen[retriever.rows(user[0], user[1], allowed, context.k)] = True
        return context.candidates[known & chosen[rows]]

    def knows(self, context: RecommendationContext) -> bool:
        """Whether the model can score this visitor (a trained row or known features)."""
        return self._user(context) is not None

    def _trained_row(self, context: RecommendationContext) -> int | None:
        if context.user_id is None:
            return None
        row, known = self.user_index.positions(np.array([context.user_id]))
        return int(row[0]) if known[0] else None

    def _who(self, context: RecommendationContext) -> tuple[int | None, np.ndarray]:
        """The user's trained row (None without one) and the rows of the services they took last."""
        return self._trained_row(context), self.scorer.history_rows(context.taken)

    def _user(self, context: RecommendationContext, who: tuple[int | None, np.ndarray] | None = None
              ) -> tuple[np.ndarray, np.ndarray] | None:
        row, history = who if who is not None else self._who(context)
        if row is not None:
            return self.scorer.user_vector(row, history=history)
        content = self.scorer.encode_features(context.user_features) if context.user_features else None
        if content is None and history.size:
            content = self.scorer.nothing_declared  # as a trained user who declared nothing
        return None if content is None else self.scorer.user_vector(-1, content, history)

    def _score(self, context: RecommendationContext, service_ids: np.ndarray) -> np.ndarray:
        scores = np.zeros(service_ids.size)  # (n,): nobody known, or a service without a row, scores 0
        rows, known = self.index.positions(service_ids)
        if not known.any():
            return scores
        who = self._who(context)
        row, history = who
        if row is not None:  # a trained user's scores depend on nothing else than their row, takings and objective
            scorer = self._service_scorer(context)
            key = (row, tuple(history.tolist())) + ((context.objective,) if scorer is not self.scorer else ())
            every = self.cache.get(key)  # (s,) float32 logits over the whole catalogue
            catalogue = self.model.service_ids.size
            if every is None and 2 * np.count_nonzero(known) >= catalogue:
                user_gmf, user_first = self._user(context, who)
                every = scorer.logits(user_gmf[None], user_first[None])[0]
                self.cache.put(key, every)
            if every is not None:
                scores[known] = _sigmoid(every[rows[known]].astype(np.float64))
                return scores
        scores[known] = self._scores_of(context, who, rows[known])
        return scores

    def _scores_of(self, context: RecommendationContext, who: tuple[int | None, np.ndarray],
                   rows: np.ndarray) -> np.ndarray:
        """(r,) scores of these service rows for the context's user, as `_who` found them (0 for a
        user the model cannot score)."""
        user = self._user(context, who)
        if user is None:
            return np.zeros(rows.size)
        return self._service_scorer(context).scores(user[0][None], user[1][None], rows)[0]

    def _service_scorer(self, context: RecommendationContext) -> NCFScorer:
        """What scores services for the context's objective: its own side, else the order model's."""
        return self.objective_scorers.get(context.objective, self.scorer)

    def _evidence(self, context: RecommendationContext, ids: np.ndarray, scores: np.ndarray) -> list[Evidence]:
        """The history service most like each chosen one (cosine of their id factors), when alike enough."""
        rows, known = self.index.positions(ids)
        history_ids = np.unique(context.interactions.service_ids)
        history_rows, history_known = self.index.positions(history_ids)
        history_ids, history_rows = history_ids[history_known], history_rows[history_known]
        if history_ids.size == 0:
            return [Evidence(EvidenceKind.PERSONAL, strength=score) for score in scores.tolist()]
        unit = self.scorer.service_unit
        similarity = unit[rows] @ unit[history_rows].T  # (n, h)
        similarity[ids[:, None] == history_ids[None, :]] = -1.0  # a service is not evidence for itself
        threshold = self.model.hyperparameters.similarity_threshold
        best = np.argmax(similarity, axis=1)  # (n,)
        alike = similarity[np.arange(ids.size), best]  # (n,)
        similar = known & (alike >= threshold)
        return [Evidence(EvidenceKind.SIMILAR_TO_VIEWED, service_id=service, strength=strength) if is_similar
                else Evidence(EvidenceKind.PERSONAL, strength=score)
                for is_similar, service, strength, score
                in zip(similar.tolist(), history_ids[best].tolist(), alike.tolist(), scores.tolist())]


class NCFRanking(NCF):
    """Every candidate, ranked by the NCF model; nothing for a visitor the model cannot score."""

    name = "NCFRanking"
    ranking = True

    def recommend(self, context: RecommendationContext) -> Recommendations:
        self._require_ready()
        if not self.knows(context):
            return Recommendations.empty()  # a ranking of zeros would look like an answer: let the caller fall back
        return super().recommend(context)
