"""The rows whose keys have the largest inner product with a query: exhaustive, or through faiss HNSW.

`flat` multiplies every key (numpy; keys of ~50 floats cost ~50 multiply-adds a service,
where NCF's MLP costs ~2,600). `hnsw` is faiss's graph index, for catalogues where even that
is too much. HNSW answers nearest neighbours in a distance, and inner products are not one:
built on the raw keys, it found a third of the best 100 on MovieLens. So each key gets one
more coordinate, sqrt(M² - |key|²) with M the largest key norm, and queries a 0 there. Every
augmented key then has norm M, and the L2-nearest key is the one of largest inner product
(Bachrach et al., 2014).

An `allowed` mask (the request's eligible services) is honoured by both: the flat search
skips the rest; HNSW asks for more rows in proportion and drops the refused ones, and a
mask that refuses half the rows or more is searched flat.
"""
from __future__ import annotations

import numpy as np

KINDS = ("flat", "hnsw")


class InnerProductIndex:
    """Keys (n, d) float32; `search(query, pool, allowed)` → the rows of the best `pool`, best first."""

    # HNSW: links per point, and the breadth of the search when building (faiss's M and efConstruction)
    # and when searching (efSearch, as a multiple of the rows asked for). On clustered keys of varied
    # norms (tests/engines/test_ann.py), 32, 200 and 4 found 100% of the best 100 where 32, 64 and 1
    # found 83%.
    NEIGHBOURS, BUILD_BREADTH, SEARCH_BREADTH = 32, 200, 4
    # Below this share of allowed rows HNSW would have to walk far past refused ones (asked to skip
    # them, faiss returned 40 of 100 rows with a seventh allowed): the allowed rows are searched flat.
    HNSW_MIN_ALLOWED_SHARE = 0.5

    def __init__(self, keys: np.ndarray, kind: str = "flat"):
        if kind not in KINDS:
            raise ValueError(f"index kind must be one of {KINDS}, not {kind!r}")
        self.kind = kind
        self.keys = np.ascontiguousarray(keys, dtype=np.float32)
        self.size = len(self.keys)
        self._hnsw = self._build_hnsw() if kind == "hnsw" and self.size else None

    def _build_hnsw(self):
        import faiss

        norms = np.linalg.norm(self.keys, axis=1)
        lift = np.sqrt(np.maximum(float(norms.max()) ** 2 - norms ** 2, 0.0))
        index = faiss.IndexHNSWFlat(self.keys.shape[1] + 1, self.NEIGHBOURS)  # L2
        index.hnsw.efConstruction = self.BUILD_BREADTH
        index.add(np.ascontiguousarray(np.concatenate([self.keys, lift[:, None]], axis=1), dtype=np.float32))
        return index

    def search(self, query: np.ndarray, pool: int, allowed: np.ndarray | None = None) -> np.ndarray:
        """(≤ pool,) int64 rows, best first; `allowed` (n,) bool limits them to its True rows."""
        share = 1.0 if allowed is None else np.count_nonzero(allowed) / max(self.size, 1)
        pool = min(pool, round(share * self.size))
        if pool <= 0:
            return np.empty(0, np.int64)
        if self._hnsw is not None and share >= self.HNSW_MIN_ALLOWED_SHARE:
            return self._search_hnsw(query, pool, allowed, share)
        scores = self.keys @ np.asarray(query, np.float32)
        if allowed is not None:
            scores[~allowed] = -np.inf
        best = np.argpartition(-scores, pool - 1)[:pool]
        return best[np.argsort(-scores[best], kind="stable")].astype(np.int64)

    def _search_hnsw(self, query: np.ndarray, pool: int, allowed: np.ndarray | None, share: float) -> np.ndarray:
        import faiss

        asked = min(self.size, int(np.ceil(pool / share)))  # enough that `pool` of them are allowed
        params = faiss.SearchParametersHNSW()
        params.efSearch = self.SEARCH_BREADTH * asked
        lifted = np.append(np.asarray(query, np.float32), np.float32(0.0))[None]
        _, rows = self._hnsw.search(lifted, asked, params=params)
        rows = rows[0][rows[0] >= 0]
        if allowed is not None:
            rows = rows[allowed[rows]]
        return rows[:pool].astype(np.int64)
