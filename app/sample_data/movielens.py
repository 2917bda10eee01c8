"""MovieLens 100K as a marketplace: the three files in, a dump, user actions and events out.

Pure: nothing here touches the database. The mapping:
- movie → service, status `published`, provider "MovieLens"; named "<title> (<year>)".
- genres → `categories`: the 19 MovieLens genres, ids 1-19 in MovieLens' own order
  ("unknown" is 1, "Western" 19).
- release decade → the service's `scientific_domains` (the dump has no decade
  field): id = the decade's first year (1990 is "1990s"). The one movie without a
  year has none.
- users' facets live in `scientific_domains` too, in their own id ranges:
  occupation → ids 101.. ("occupation: educator"), age band → ids 201..
  ("age 25-34"). Users' `categories` stay empty: categories are genres, MovieLens
  users declare none, and deriving them from ratings would leak the ratings a
  model is evaluated on into its features.
- a rating of 4 or 5 is a service the user took: `accessed_services` (time order,
  each once), the user's project (project id = user id), and a journey of two
  user actions at the rating's time: a click from the `/services` list to the
  service page, then an order (`order: true`) from the service page to
  `/projects` 30 s later. MovieLens recommended nothing, so the click's
  `source.root` is of type "other", not "recommendation_panel"; it names the
  movie (`resource_id`) because a page slug cannot be mapped to a service, and
  that is how readers of histories learn what was clicked and ordered.
- a rating of 1 to 3 is an event `{"user_id", "service_id", "type": "rating",
  "value": <stars>, "timestamp"}`: the stars are kept, so a reader can tell a
  lukewarm view from a rejection.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.errors import InvalidInput
from app.sample_data.synthetic import (
    SERVICES_PAGE,
    MarketplaceData,
    empty_dump,
    iso_timestamp,
    named_items,
    service_page_id,
    user_action,
)

GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
          "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
          "War", "Western")
AGE_BANDS = ((18, "under 18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (50, "45-49"), (56, "50-55"),
             (None, "56+"))  # (exclusive upper bound, name)
OCCUPATION_ID_BASE = 100
AGE_BAND_ID_BASE = 200
LIKED_RATING = 4
ORDER_DELAY = timedelta(seconds=30)
PROVIDER = {"id": 1, "pid": None, "name": "MovieLens"}
LISTING_ROOT = {"type": "other", "resource_type": "service"}  # a click in a plain list, not a panel
# uuid5 namespace: the same files always give the same visit and session ids.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://grouplens.org/datasets/movielens/100k/")


@dataclass(frozen=True)
class Movie:
    id: int
    title: str
    year: int | None
    genres: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.title} ({self.year})" if self.year else self.title


@dataclass(frozen=True)
class Viewer:
    id: int
    age: int
    occupation: str


@dataclass(frozen=True)
class Rating:
    user_id: int
    movie_id: int
    stars: float
    timestamp: int  # seconds since the epoch


@dataclass
class MovieLens:
    movies: list[Movie]
    viewers: list[Viewer]
    ratings: list[Rating]


def read_table(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a tab-separated file whose header names typed columns (`user_id:token`)."""
    if not path.is_file():
        raise InvalidInput(f"{path} does not exist", {path.name: "missing"})
    with open(path, encoding="utf-8", errors="replace") as lines:
        header = [name.split(":", 1)[0] for name in next(lines, "").rstrip("\n").split("\t")]
        missing = [name for name in columns if name not in header]
        if missing:
            raise InvalidInput(f"{path.name} lacks columns", {path.name: f"missing {', '.join(missing)}"})
        return [dict(zip(header, line.rstrip("\n").split("\t"))) for line in lines if line.strip()]


def read_movielens(directory: Path) -> MovieLens:
    """Parse ml-100k.item, .user and .inter from `directory`."""
    directory = Path(directory)
    try:
        movies = [
            Movie(int(row["item_id"]), row["movie_title"].strip(),
                  int(row["release_year"]) if row["release_year"].strip().isdigit() else None,
                  tuple(row["class"].split()))
            for row in read_table(directory / "ml-100k.item", ("item_id", "movie_title", "release_year", "class"))
        ]
        viewers = [
            Viewer(int(row["user_id"]), int(row["age"]), row["occupation"].strip())
            for row in read_table(directory / "ml-100k.user", ("user_id", "age", "occupation"))
        ]
        ratings = [
            Rating(int(row["user_id"]), int(row["item_id"]), float(row["rating"]), int(float(row["timestamp"])))
            for row in read_table(directory / "ml-100k.inter", ("user_id", "item_id", "rating", "timestamp"))
        ]
    except (ValueError, KeyError) as exc:
        raise InvalidInput("a MovieLens file has a malformed row", {str(directory): str(exc)}) from exc
    return MovieLens(movies, viewers, ratings)


def age_band(age: int) -> int:
    """Index into AGE_BANDS of the band `age` falls in."""
    return next(i for i, (below, _) in enumerate(AGE_BANDS) if below is None or age < below)


def movielens_marketplace(data: MovieLens) -> MarketplaceData:
    """The marketplace the module docstring describes."""
    genres = list(GENRES) + sorted({g for m in data.movies for g in m.genres} - set(GENRES))
    genre_id = {name: i for i, name in enumerate(genres, start=1)}
    occupations = sorted({v.occupation for v in data.viewers})
    occupation_id = {name: OCCUPATION_ID_BASE + i for i, name in enumerate(occupations, start=1)}
    decades = sorted({m.year // 10 * 10 for m in data.movies if m.year})

    dump = empty_dump()
    dump["categories"] = named_items(genres)
    dump["scientific_domains"] = (
        [{"id": d, "name": f"{d}s"} for d in decades]
        + [{"id": occupation_id[o], "name": f"occupation: {o}"} for o in occupations]
        + [{"id": AGE_BAND_ID_BASE + i + 1, "name": f"age {name}"} for i, (_, name) in enumerate(AGE_BANDS)]
    )
    dump["providers"] = [dict(PROVIDER)]
    mean_stars = _mean_stars(data.ratings)
    dump["services"] = [_service(m, genre_id, mean_stars) for m in data.movies]

    movies = {m.id: m for m in data.movies}
    # Many users rated several movies within one second; the sort is stable, so such
    # ties keep the file's order instead of favouring high movie ids as "latest".
    liked = sorted((r for r in data.ratings if r.stars >= LIKED_RATING), key=lambda r: (r.timestamp, r.user_id))
    taken: dict[int, dict[int, None]] = {v.id: {} for v in data.viewers}
    for rating in liked:
        taken.setdefault(rating.user_id, {}).setdefault(rating.movie_id, None)
    dump["users"] = [
        {"id": v.id, "aai_uid": f"user{v.id}@movielens.example",
         "scientific_domains": [occupation_id[v.occupation], AGE_BAND_ID_BASE + age_band(v.age) + 1],
         "categories": [], "accessed_services": list(taken[v.id])}
        for v in data.viewers
    ]
    dump["projects"] = [{"id": user, "user_id": user, "services": list(services)}
                        for user, services in sorted(taken.items()) if services]
    actions = [action for rating in liked for action in _journey(rating, movies[rating.movie_id])]
    events = [
        {"user_id": r.user_id, "service_id": r.movie_id, "type": "rating", "value": _number(r.stars),
         "timestamp": iso_timestamp(_moment(r))}
        for r in sorted(data.ratings, key=lambda r: (r.timestamp, r.user_id, r.movie_id))
        if r.stars < LIKED_RATING
    ]
    return MarketplaceData(dump=dump, user_actions=actions, events=events)


def convert_movielens(directory: Path) -> MarketplaceData:
    """Read the files in `directory` and map them to a marketplace."""
    return movielens_marketplace(read_movielens(directory))


def _service(movie: Movie, genre_id: dict[str, int], mean_stars: dict[int, str]) -> dict:
    genres = [g for g in movie.genres if g in genre_id]
    return {
        "id": movie.id, "pid": None, "name": movie.name,
        "description": f"{movie.name}: {', '.join(genres) or 'unknown genre'}.",
        "tagline": ", ".join(genres), "countries": [], "order_type": "open_access",
        "rating": mean_stars.get(movie.id, "0.00"), "horizontal": False, "status": "published",
        "categories": [genre_id[g] for g in genres], "providers": [PROVIDER["id"]],
        "resource_organisation": PROVIDER["id"],
        "scientific_domains": [movie.year // 10 * 10] if movie.year else [],
        "platforms": [], "target_users": [], "related_services": [], "required_services": [],
        "access_types": [], "access_modes": [], "trls": [], "life_cycle_statuses": [], "research_steps": [],
    }


def _mean_stars(ratings: list[Rating]) -> dict[int, str]:
    """Each rated movie's mean rating, as the dump's `rating` string."""
    stars: dict[int, list[float]] = {}
    for rating in ratings:
        stars.setdefault(rating.movie_id, []).append(rating.stars)
    return {movie: f"{sum(values) / len(values):.2f}" for movie, values in stars.items()}


def _moment(rating: Rating) -> datetime:
    return datetime.fromtimestamp(rating.timestamp, tz=UTC)


def _journey(rating: Rating, movie: Movie) -> list[dict]:
    """The click into a liked movie's page, then its order."""
    def visit(step: str) -> str:
        return str(uuid.uuid5(NAMESPACE, f"visit/{rating.user_id}/{rating.movie_id}/{step}"))

    viewer = {"unique_id": str(uuid.uuid5(NAMESPACE, f"user/{rating.user_id}")), "user_id": rating.user_id}
    listing = (visit("listing"), SERVICES_PAGE)
    page = (visit("page"), service_page_id(movie.id, movie.name))
    ordered = (visit("order"), "/projects")
    root = {**LISTING_ROOT, "resource_id": movie.id}
    return [
        user_action(timestamp=_moment(rating), source=listing, target=page, root=root,
                    action=("link", movie.name, False), **viewer),
        user_action(timestamp=_moment(rating) + ORDER_DELAY, source=page, target=ordered,
                    action=("button", "Order", True), **viewer),
    ]


def _number(stars: float) -> int | float:
    return int(stars) if stars.is_integer() else stars
