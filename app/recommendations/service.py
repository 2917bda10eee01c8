"""POST /recommendations and POST /scores: from a request to ranked services.

Steps: who is asking (user, visitor, features, history), which services are
eligible (catalogue index), which engine answers (the fallback chain, walked until
an engine returns something), explanations, and the served-recommendation log.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from app.engines import EngineNotReady, Interactions, RecommendationContext, Recommendations, explain_all
from app.engines.interactions import DEFAULT_OBJECTIVE
from app.engines.reranking import Shaping, pool_size, rerank
from app.errors import InvalidInput
from app.marketplace import recent_history
from app.marketplace.catalogue import user_by_aai_uid
from app.recommendation_log import log_served, log_shadow
from app.recommendations.choice import is_ranking, serving_chain
from app.recommendations.experiment_arms import Placement, place
from app.recommendations.serving_state import ServingState, serving_state
from app.recommendations.showings import unclicked_showings
from app.recommendations.similar_services import SIMILAR_ENGINE, context_service

PANEL_SIZES = {"v1": 3, "v2": 2}
HISTORY_LIMIT = recent_history.KEPT
FEATURE_FACETS = ("categories", "scientific_domains")


@dataclass
class Asker:
    user_id: int | None
    unique_id: str | None
    history: Interactions
    session: Interactions
    features: dict[str, tuple[int, ...]]
    ordered: set[int]
    taken: np.ndarray  # (t,) the dump's accessed services, then later orders, oldest first


def panel_of(payload: dict) -> tuple[str, int]:
    """The panel id as answered and how many items it holds (`k` overrides)."""
    panel = payload.get("panel_id") or "v1"
    panel = "v1" if panel == "service" else panel
    if panel not in PANEL_SIZES:
        raise InvalidInput("unknown panel", {"panel_id": f"must be v1, v2, service or empty, not {panel!r}"})
    return panel, int(payload.get("k") or PANEL_SIZES[panel])


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.upper().replace("Z", "+00:00")).astimezone(timezone.utc)


def identify(payload: dict, state: ServingState) -> Asker:
    user_id = payload.get("user_id")
    if user_id is None and payload.get("aai_uid"):
        user_id = user_by_aai_uid(payload["aai_uid"])
    unique_id = payload.get("unique_id")
    records = recent_history.recent(user_id, unique_id, HISTORY_LIMIT)
    session = [(e["service_id"], e["type"], _parse_time(e["timestamp"])) for e in payload.get("session") or []]
    dump_user = state.dump_users.features(user_id)  # of the snapshot the catalogue was built from
    features = {f: tuple(dump_user.get(f) or ()) for f in FEATURE_FACETS if dump_user.get(f)}
    features.update({f: tuple(v) for f, v in (payload.get("user_features") or {}).items() if f in FEATURE_FACETS})
    orders = [r[0] for r in records if r[1] == "order"]  # records are oldest first
    accessed = list(dump_user.get("accessed_services") or ())  # in the order they were taken
    return Asker(user_id, unique_id, Interactions.from_records(records), Interactions.from_records(session),
                 features, set(orders) | set(accessed), np.array(accessed + orders, dtype=np.int64))


def _answer(engine_name: str, engines: dict, context: RecommendationContext) -> Recommendations:
    engine = engines.get(engine_name)
    if engine is None or not engine.ready:
        return Recommendations.empty()
    try:
        return engine.recommend(context)
    except EngineNotReady:
        return Recommendations.empty()


def engines_to_try(payload: dict, asker: Asker, state: ServingState, ready: set[str] | None = None) -> list[str]:
    """The engines that may answer, in order, starting with the one that should."""
    return serving_chain(
        payload.get("engine_version"), state.default["engine"], state.ready if ready is None else ready,
        # NCF answers a logged-in user by situation only when it was trained on the data served.
        logged_in=asker.user_id is not None and "NCF" in state.ready and state.default["ncf_on_active_snapshot"],
        has_events=len(asker.history) + len(asker.session) > 0,
    )


def _walk_chain(chain: list[str], engines: dict, context: RecommendationContext, ranking: bool) -> dict:
    """Answer from the first engine of the chain that returns anything; a top-k panel
    that is still short is topped up from the next engines, each item keeping its source
    and the chance its engine had of showing it."""
    answered = {"ids": [], "scores": [], "evidence": [], "sources": [], "probabilities": []}
    for name in chain:
        ids = answered["ids"]
        remaining = context.candidates[~np.isin(context.candidates, ids)] if ids else context.candidates
        if len(remaining) == 0 or (not ranking and len(ids) >= context.k):
            break
        answer = _answer(name, engines, _with_candidates(context, remaining, context.k - len(ids)))
        answered["ids"] += answer.ids.tolist()
        answered["scores"] += answer.scores.tolist()
        answered["evidence"] += list(answer.evidence)
        answered["sources"] += [name] * len(answer)
        certain = answer.probabilities is None
        answered["probabilities"] += [1.0] * len(answer) if certain else answer.probabilities.tolist()
        if ranking and len(answer):
            break
    return answered


def _with_candidates(context: RecommendationContext, candidates: np.ndarray, k: int) -> RecommendationContext:
    return RecommendationContext(
        candidates=candidates, k=k, now=context.now, user_id=context.user_id, unique_id=context.unique_id,
        history=context.history, session=context.session, taken=context.taken, user_features=context.user_features,
        seed=context.seed, context_service_id=context.context_service_id, objective=context.objective,
    )


def recommend(payload: dict) -> dict:
    """The contract's response for one recommendation request, logged."""
    panel, k = panel_of(payload)
    state = serving_state()
    asker = identify(payload, state)
    # On a service's own page: never that service, and Similar answers unless the request names
    # an engine; like a request naming its engine, it bypasses experiments (docs/similar-services.md).
    shown_beside = context_service(payload, state.catalogue)
    routed, excluded = payload, set(payload.get("exclude") or ()) | asker.ordered
    if shown_beside is not None:
        routed = {**payload, "engine_version": payload.get("engine_version") or SIMILAR_ENGINE}
        excluded.add(shown_beside)
    candidates = state.catalogue.eligible(payload.get("candidates"), payload.get("search_data"), excluded)
    ranking = is_ranking(payload.get("engine_version"))
    shaping = shaping_of(payload, ranking)
    placement = place(state.experiments, routed, panel, asker.user_id)
    arm = placement.arm if placement else None
    engines = state.engines_of(arm.model_version if arm else None)
    # Only a variant with a pinned version serves from other engines than the state's own.
    ready = None if engines is state.engines else {name for name, engine in engines.items() if engine.ready}
    chain = engines_to_try({**payload, "engine_version": arm.engine} if arm else routed, asker, state, ready)
    context = RecommendationContext(
        candidates=candidates, k=len(candidates) if ranking else pool_size(k) if shaping.active else k,
        now=time.time(), user_id=asker.user_id,
        unique_id=asker.unique_id, history=asker.history, session=asker.session, taken=asker.taken,
        user_features=asker.features, context_service_id=shown_beside, objective=objective_of(payload),
    )
    answered = _walk_chain(chain, engines, context, ranking)
    shape = _shaper(k, shaping, state, asker)
    answered = shape(answered)
    ids, scores, sources = answered["ids"], answered["scores"], answered["sources"]
    served = sources[0] if sources else chain[0]
    long, short = explain_all(answered["evidence"],
                              {"services": state.catalogue.names, "categories": state.category_names})
    model_version = state.version_of(served, arm.model_version if arm else None)
    recommendation_id = log_served({**payload, "user_id": asker.user_id}, ids, scores, served, model_version,
                                   probabilities=answered["probabilities"],
                                   experiment=placement.log_fields() if placement else None)
    if arm is not None:
        _run_shadows(placement, state, context, recommendation_id, shape)
    return {
        "panel_id": panel, "recommendations": ids, "scores": [round(float(s), 6) for s in scores],
        "explanations": long, "explanations_short": short, "engine_version": served,
        "recommendation_id": recommendation_id, "model_version": model_version, "served_by": sources,
        "experiment": placement.experiment.id if arm else None, "variant": arm.name if arm else None,
        "context_service_id": shown_beside, "objective": context.objective,
    }


def objective_of(payload: dict) -> str:
    """What the panel is for (validated by the schema): the next click, cart or order."""
    return payload.get("objective") or DEFAULT_OBJECTIVE


def shaping_of(payload: dict, ranking: bool) -> Shaping:
    """The request's diversity, rotation and max_per_provider (validated by the schema)."""
    shaping = Shaping(diversity=float(payload.get("diversity") or 0.0), rotation=float(payload.get("rotation") or 0.0),
                      max_per_provider=payload.get("max_per_provider"))
    if ranking and shaping.active:
        field = next(f for f in ("diversity", "rotation", "max_per_provider") if payload.get(f))
        raise InvalidInput("a ranking is not shaped", {field: "shapes a panel; a ranking returns every candidate "
                                                              "in the engine's order"})
    return shaping


def _shaper(k: int, shaping: Shaping, state: ServingState, asker: Asker):
    """What makes a panel of `k` of an engine's pool: the pool as it is without shaping, else
    re-ranked (app/engines/reranking.py), the served log read once for rotation."""
    if not shaping.active:
        return lambda pool: pool
    shown = (unclicked_showings(asker.user_id, asker.unique_id, [asker.history, asker.session])
             if shaping.rotation > 0 else None)
    return lambda pool: _shaped(pool, k, shaping, state, shown)


def _shaped(answered: dict, k: int, shaping: Shaping, state: ServingState, shown: Counter | None) -> dict:
    ids = answered["ids"]
    shows = np.array([shown.get(service, 0) for service in ids]) if shown is not None else None
    places = rerank(k, [state.catalogue.categories.get(s, ()) for s in ids],
                    [state.catalogue.providers.get(s, ()) for s in ids], shaping, shows)
    panel = {key: [values[p] for p in places] for key, values in answered.items()}
    if any(p < 1 for p in answered["probabilities"]):
        # A random engine's chances were those of its pool; the re-ranked panel's are unknown.
        panel["probabilities"] = None
    return panel


def _run_shadows(placement: Placement, state: ServingState, context: RecommendationContext,
                 recommendation_id: str, shape) -> None:
    """Answer the request with each shadow variant too and log what it would have shown, shaped
    by `shape` like the served panel. A shadow answers only from its own engine (no fallback):
    a shadow that is not ready logs nothing."""
    for shadow in placement.experiment.shadows:
        engines = state.engines_of(shadow.model_version)
        answer = _answer(shadow.engine, engines, context)
        if len(answer) == 0:
            continue
        certain = answer.probabilities is None
        panel = shape({"ids": answer.ids.tolist(), "scores": answer.scores.tolist(),
                       "probabilities": [1.0] * len(answer) if certain else answer.probabilities.tolist()})
        log_shadow(recommendation_id, {"experiment": placement.experiment.id, "variant": shadow.name,
                                       "unit": placement.unit},
                   panel["ids"], panel["scores"], shadow.engine, state.version_of(shadow.engine, shadow.model_version),
                   None if certain else panel["probabilities"])


def score(payload: dict) -> dict:
    """One score per requested service, in the order asked, from the chosen engine."""
    state = serving_state()
    asker = identify(payload, state)
    service_ids = np.asarray(payload["service_ids"], dtype=np.int64)
    engine_name = engines_to_try(payload, asker, state)[0]
    context = RecommendationContext(
        candidates=service_ids, k=len(service_ids), now=time.time(), user_id=asker.user_id,
        unique_id=asker.unique_id, history=asker.history, session=asker.session, taken=asker.taken,
        user_features=asker.features, objective=objective_of(payload),
        seed=0,
    )
    values = state.engines[engine_name].score(context, service_ids)
    return {"engine_version": engine_name, "model_version": state.model_versions.get(engine_name),
            "scores": [{"service_id": int(s), "score": float(v)} for s, v in zip(service_ids, values)]}
