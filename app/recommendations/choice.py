"""Which engine serves a request: the requested one if ready, else the default (set or
measured, app/recommendations/default_engine.py; None when neither), else a chain that
fits who is asking. A ranking request (every candidate, ranked) is only ever answered by
a ranking engine. The engines and when each stands in for another come from the
engine table (app/engines/registry.py)."""
from __future__ import annotations

from app.engines import registry
from app.engines.registry import ALWAYS, FOR_LOGGED_IN, FOR_VISITORS_WITH_EVENTS


def is_ranking(engine: str | None) -> bool:
    return engine in registry.ranking_engines()


def _stand_ins(ranking: bool, logged_in: bool, has_events: bool) -> list[str]:
    """The engines that stand in, in the table's order: the situational ones, then the rest."""
    situations = {*([FOR_LOGGED_IN] if logged_in else []), *([FOR_VISITORS_WITH_EVENTS] if has_events else [])}
    entries = [entry for entry in registry.ENGINES if entry.ranking == ranking]
    return ([entry.name for entry in entries if entry.fallback in situations]
            + [entry.name for entry in entries if entry.fallback == ALWAYS])


def fallback_chain(
    requested: str | None, default: str | None, *, logged_in: bool, has_events: bool
) -> list[str]:
    """Engines to try, in order, without repeats."""
    ranking = is_ranking(requested)
    chain = [requested, default if is_ranking(default) == ranking else None,
             *_stand_ins(ranking, logged_in, has_events)]
    names = registry.engine_names()
    seen: list[str] = []
    for engine in chain:
        if engine in names and engine not in seen:
            seen.append(engine)
    return seen


def serving_chain(
    requested: str | None, default: str | None, ready: set[str], *, logged_in: bool, has_events: bool
) -> list[str]:
    """The chain from its first ready engine on; the last resort (Random/RandomRanking) is always kept."""
    chain = fallback_chain(requested, default, logged_in=logged_in, has_events=has_events)
    first = next((i for i, engine in enumerate(chain) if engine in ready), len(chain) - 1)
    return chain[first:]


def choose_engine(
    requested: str | None, default: str | None, ready: set[str], *, logged_in: bool, has_events: bool
) -> str:
    """The first ready engine of the chain."""
    return serving_chain(requested, default, ready, logged_in=logged_in, has_events=has_events)[0]
