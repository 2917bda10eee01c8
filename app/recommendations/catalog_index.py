"""An in-memory index of one snapshot's services, for filtering candidates fast.

Built once per snapshot in each API process (a few ms per 10k services); every
request then filters with numpy masks instead of querying MongoDB.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

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
class CatalogIndex:
    snapshot_id: str | None
    ids: np.ndarray  # (n,) int64 service ids of the recommendable services, sorted
    names: dict[int, str]
    categories: dict[int, tuple[int, ...]]  # service id → its categories
    text: list[str]  # lower-cased name, tagline and description per row
    postings: dict[str, dict[object, np.ndarray]] = field(default_factory=dict)  # facet → value → rows

    @classmethod
    def build(cls, snapshot_id: str | None, services: Iterable[Mapping]) -> CatalogIndex:
        rows = sorted(services, key=lambda s: s["marketplace_id"])
        ids = np.array([s["marketplace_id"] for s in rows], dtype=np.int64)
        postings: dict[str, dict[object, list[int]]] = {}
        for row, service in enumerate(rows):
            for facet_field in set(FACETS.values()):
                values = service.get(facet_field)
                values = values if isinstance(values, list) else [values] if values is not None else []
                for value in values:
                    postings.setdefault(facet_field, {}).setdefault(value, []).append(row)
        return cls(
            snapshot_id=snapshot_id,
            ids=ids,
            names={int(s["marketplace_id"]): s.get("name") or "" for s in rows},
            categories={int(s["marketplace_id"]): tuple(s.get("categories") or ()) for s in rows},
            text=[" ".join(filter(None, (s.get("name"), s.get("tagline"), s.get("description")))).lower()
                  for s in rows],
            postings={f: {v: np.array(r, dtype=np.int64) for v, r in vals.items()} for f, vals in postings.items()},
        )

    def __len__(self) -> int:
        return len(self.ids)

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
        mask = np.ones(len(self.ids), dtype=bool)
        candidates = list(candidates or ())
        if candidates:
            mask &= np.isin(self.ids, np.asarray(candidates, dtype=np.int64))
        else:
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
            mask &= ~np.isin(self.ids, np.asarray(exclude, dtype=np.int64))
        return self.ids[mask]
