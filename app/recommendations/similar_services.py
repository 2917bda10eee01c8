"""Services like one service: the context service of a recommendation request, and
GET /services/<id>/similar.

A request's context service is its `context_service_id`, else the service whose page
its `page_id` is (`/services/<slug>`, app/dump_contract.py). Both are looked up in the
serving state's catalogue (memory only: no database query per request). An id or a page
the catalogue lacks gives an ordinary panel, as an unknown id in `candidates` is left
out: a service added since the last dump has its page before the next dump brings it,
and its panel should show. The response's `context_service_id` says which was used.
"""
from __future__ import annotations

import time
from urllib.parse import unquote

import numpy as np

from app.dump_contract import SERVICES_PAGE_PREFIX
from app.engines import RecommendationContext, explain_all
from app.errors import NothingServed, ServiceNotFound
from app.recommendations.catalogue_index import CatalogueIndex
from app.recommendations.serving_state import serving_state

SIMILAR_ENGINE = "Similar"  # the engine that answers a request with a context service (app/engines/registry.py)


def context_service(payload: dict, catalogue: CatalogueIndex) -> int | None:
    """The service the request's panel is shown beside, or None for an ordinary page."""
    explicit = payload.get("context_service_id")
    if explicit is not None:
        return int(explicit) if _in_catalogue(catalogue, explicit) else None
    return service_of_page(payload.get("page_id"), catalogue)


def service_of_page(page_id: str | None, catalogue: CatalogueIndex) -> int | None:
    """The service whose page `page_id` is (`/services/<slug>`, a trailing "/", query or fragment
    ignored); None for any other page, a sub-page, or a slug of no service served."""
    if not isinstance(page_id, str) or not page_id.startswith(SERVICES_PAGE_PREFIX):
        return None
    slug = unquote(page_id[len(SERVICES_PAGE_PREFIX):].split("?", 1)[0].split("#", 1)[0]).rstrip("/")
    if not slug or "/" in slug:
        return None
    return catalogue.service_of_slug.get(slug.lower())


def _in_catalogue(catalogue: CatalogueIndex, service_id: int) -> bool:
    if not -2**63 <= service_id < 2**63:  # the path converter takes any size of integer
        return False
    return bool(catalogue.row_index.positions(np.array([service_id], dtype=np.int64))[1][0])


def similar_to(service_id: int, k: int) -> dict:
    """GET /services/<id>/similar: the `k` services most like `service_id`, with scores and reasons."""
    state = serving_state()
    catalogue = state.catalogue
    if catalogue.snapshot_id is None:
        raise NothingServed()
    if not _in_catalogue(catalogue, service_id):
        raise ServiceNotFound(service_id)
    engine = state.engines.get(SIMILAR_ENGINE)
    context = RecommendationContext(candidates=catalogue.ids[catalogue.ids != service_id], k=k, now=time.time(),
                                    context_service_id=service_id)
    answer = engine.recommend(context)
    long, short = explain_all(answer.evidence, {"services": catalogue.names, "categories": state.category_names})
    return {
        "service_id": service_id,
        "similar": [{"service_id": int(i), "score": round(float(s), 6), "explanation": text, "explanation_short": brief}
                    for i, s, text, brief in zip(answer.ids, answer.scores, long, short)],
        "model_version": state.model_versions.get(SIMILAR_ENGINE),
    }
