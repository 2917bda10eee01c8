"""An in-memory index of one snapshot's services, for filtering candidates fast.

Built once per snapshot in each API process (a few ms per 10k services); every
request then filters with numpy masks instead of querying MongoDB. It also holds
what "services like this one" needs: each service's content features (app/engines/content.py)
and the service of each page slug.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from app.dump_contract import service_slug
from app.engines.catalogue import IdIndex
from app.engines.content import ServiceContent

# search_data key → the service field it filters on.
FACETS = {
    "categories": "categories",
    "scientific_domains": "scientific_domains",
    "providers": "providers",
    "related_platforms": "platforms",
    "platforms": "platforms",
    "target_users": "target_users",
    "geographical_availabilities": "countries",
    "order_type": "order_type",
}


@dataclass
class CatalogueIndex:
    snapshot_id: str | None
    ids: np.ndarray  # (n,) int64 service ids of the recommendable services, sorted
    names: dict[int, str]
    categories: dict[int, tuple[int, ...]]  # service id → its categories
    providers: dict[int, tuple[int, ...]]  # service id → its providers
    text: list[str]  # lower-cased name, tagline and description per row
    postings: dict[str, dict[object, np.ndarray]] = field(default_factory=dict)  # facet → value → rows
    content: ServiceContent = field(default_factory=ServiceContent.empty)
    service_of_slug: dict[str, int] = field(default_factory=dict)  # page slug → service id (the lowest id's)

    @classmethod
    def build(cls, snapshot_id: str | None, services: Iterable[Mapping]) -> CatalogueIndex:
        rows = sorted(services, key=lambda s: s["marketplace_id"])
        ids = np.array([s["marketplace_id"] for s in rows], dtype=np.int64)
        postings: dict[str, dict[object, list[int]]] = {}
        for row, service in enumerate(rows):
            for facet_field in set(FACETS.values()):
                values = service.get(facet_field)
                values = values if isinstance(values, list) else [values] if values is not None else []
                for value in values:
                    postings.setdefault(facet_field, {}).setdefault(value, []).append(row)
        text = [" ".join(filter(None, (s.get("name"), s.get("tagline"), s.get("description")))).lower() for s in rows]
        service_of_slug: dict[str, int] = {}
        for service in rows:  # in id order: two services of one slug, the older (lower id) has the page
            service_of_slug.setdefault(service_slug(service.get("name") or ""), int(service["marketplace_id"]))
        service_of_slug.pop("", None)
        return cls(
            snapshot_id=snapshot_id,
            ids=ids,
            names={int(s["marketplace_id"]): s.get("name") or "" for s in rows},
            categories={int(s["marketplace_id"]): tuple(s.get("categories") or ()) for s in rows},
            providers={int(s["marketplace_id"]): tuple(s.get("providers") or ()) for s in rows},
            text=text,
            postings={f: {v: np.array(r, dtype=np.int64) for v, r in vals.items()} for f, vals in postings.items()},
            content=ServiceContent.build(ids, _content_facets(rows), text),
            service_of_slug=service_of_slug,
        )

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def row_index(self) -> IdIndex:
        return IdIndex(self.ids)  # ids are sorted and unique: its rows are this index's rows

    def _facet_mask(self, facet_field: str, wanted: list) -> np.ndarray:
        mask = np.zeros(len(self.ids), dtype=bool)
        for value in wanted:
            rows = self.postings.get(facet_field, {}).get(value)
            if rows is not None:
                mask[rows] = True
        return mask

    def eligible(
        self,
        candidates: Iterable[int] | None = None,
        search_data: Mapping | None = None,
        exclude: Iterable[int] = (),
    ) -> np.ndarray:
        """Recommendable ids ∩ candidates (when given) ∩ filters (only without candidates),
        minus `exclude`; OR within a facet, AND across facets, every `q` word must appear."""
        candidates = list(candidates or ())
        if candidates:
            mask = self._rows_mask(candidates)
        else:
            mask = np.ones(len(self.ids), dtype=bool)
            for key, facet_field in FACETS.items():
                wanted = (search_data or {}).get(key)
                if wanted in (None, [], ""):
                    continue
                mask &= self._facet_mask(facet_field, wanted if isinstance(wanted, list) else [wanted])
            words = str((search_data or {}).get("q") or "").lower().split()
            if words:
                mask &= np.array([all(w in text for w in words) for text in self.text], dtype=bool)
        exclude = list(exclude)
        if exclude:
            mask &= ~self._rows_mask(exclude)
        return self.ids[mask]

    def _rows_mask(self, ids: list[int]) -> np.ndarray:
        """(n,) True at the rows of the given ids that are in the catalogue."""
        rows, known = self.row_index.positions(np.asarray(ids, dtype=np.int64))
        mask = np.zeros(len(self.ids), dtype=bool)
        mask[rows[known]] = True
        return mask


def _content_facets(rows: list[Mapping]) -> dict[str, list[list[int]]]:
    """Each service's categories, scientific domains and providers (its resource organisation among them)."""
    return {
        "categories": [s.get("categories") or [] for s in rows],
        "scientific_domains": [s.get("scientific_domains") or [] for s in rows],
        "providers": [[*(s.get("providers") or []), *([s["resource_organisation"]]
                                                       if s.get("resource_organisation") is not None else [])]
                      for s in rows],
    }
