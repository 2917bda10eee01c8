"""Recommendation engines: pure code, arrays in, ranked ids with scores and evidence out.

Nothing here reads a database or knows about HTTP; the service layer builds a
`RecommendationContext` and calls `Engine.recommend`. Only numpy, scipy and
torch may be imported besides `app.engines` itself.
"""
from app.engines.base import (
    Engine,
    EngineNotReady,
    Evidence,
    EvidenceKind,
    RecommendationContext,
    Recommendations,
)
from app.engines.catalogue import ServiceCategories
from app.engines.content import ServiceContent
from app.engines.explanations import explain, explain_all
from app.engines.fitted import FittedEngine, FittedModel
from app.engines.interactions import (
    DEFAULT_TYPE_WEIGHTS,
    Interactions,
    InteractionType,
    encode_types,
    seconds_since_epoch,
)
from app.engines.ncf import NCF, NCFModel, NCFParams, NCFRanking
from app.engines.popularity import (
    Popularity,
    PopularityModel,
    PopularityParams,
    fit_popularity,
)
from app.engines.random import Random, RandomRanking
from app.engines.rl import RL, RLModel, RLParams
from app.engines.session import Session, SessionModel, SessionParams, fit_session
from app.engines.similar import SimilarParams, SimilarServices

__all__ = [
    "DEFAULT_TYPE_WEIGHTS", "NCF", "Engine", "EngineNotReady", "Evidence", "EvidenceKind", "FittedEngine",
    "FittedModel", "InteractionType", "Interactions", "NCFModel", "NCFParams", "NCFRanking", "Popularity",
    "PopularityModel", "PopularityParams", "RL", "RLModel", "RLParams", "Random", "RandomRanking",
    "RecommendationContext", "Recommendations", "ServiceCategories", "ServiceContent", "Session", "SessionModel",
    "SessionParams", "SimilarParams", "SimilarServices", "encode_types", "explain", "explain_all", "fit_popularity",
    "fit_session", "seconds_since_epoch",
]
