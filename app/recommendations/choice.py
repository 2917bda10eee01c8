"""Which engine serves a request: the requested one if ready, else the default (set or
measured, app/recommendations/default_engine.py; None when neither), else a chain that
fits who is asking. A ranking request (every candidate, ranked) is only ever answered by
a ranking engine."""
from __future__ import annotations

RANKING_ENGINES = ("NCFRanking", "RandomRanking")
TOP_K_ENGINES = ("NCF", "RL", "Session", "Popularity", "Random")
ALL_ENGINES = TOP_K_ENGINES + RANKING_ENGINES


def is_ranking(engine: str | None) -> bool:
    return engine in RANKING_ENGINES


def fallback_chain(
    requested: str | None, default: str | None, *, logged_in: bool, has_events: bool
) -> list[str]:
    """Engines to try, in order, without repeats."""
    if is_ranking(requested):
        chain = [requested, default if is_ranking(default) else None, "NCFRanking", "RandomRanking"]
    else:
        situational = ["NCF"] if logged_in else []
        situational += ["Session"] if has_events else []
        chain = [requested, default if not is_ranking(default) else None, *situational, "Popularity", "Random"]
    seen: list[str] = []
    for engine in chain:
        if engine in ALL_ENGINES and engine not in seen:
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
