"""What services say about themselves, as sparse features: facets and TF-IDF text.

Built once per snapshot from its catalogue (app/recommendations/catalogue_index.py),
then asked "how much is every service like this one?" per request: the service's
few values (facet ids, words) each add their column to every service's sum, so
nothing of size services × services is ever held. Each feature is kept twice, by
row and by column; the sums are plain numpy over the columns' entries, since scipy's
sparse product spent most of a call checking and converting its arguments
(docs/benchmarks.md#similar-services).

- Facets (categories, scientific domains, providers): Jaccard overlap of the two
  services' id sets, 0 when either has none.
- Text (name, tagline, description): cosine of L2-normalised TF-IDF vectors,
  smooth IDF (log((1 + n) / (1 + df)) + 1) and sublinear term counts (1 + log tf),
  so a word repeated in a long description does not drown the rest.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from app.engines.catalogue import IdIndex
from app.engines.csr import gather_rows

FACETS = ("categories", "scientific_domains", "providers")
MIN_WORD_LENGTH = 2  # single letters and digits carry no topic
# Whole alphanumeric runs of that length or more: a greedy run never starts inside a longer one.
# Filtering the runs in Python instead took twice as long (a 100k catalogue is ~8.5M words).
_WORD = re.compile(rf"[a-z0-9]{{{MIN_WORD_LENGTH},}}")
# Words in more than this share of services describe the marketplace, not a service.
MAX_DOCUMENT_SHARE = 0.5


def words(text: str) -> list[str]:
    """The words TF-IDF counts: lower-cased alphanumeric runs of at least MIN_WORD_LENGTH characters."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True, eq=False)
class ServiceContent:
    """Facet and text features of a catalogue's services, one row per service."""

    service_ids: np.ndarray  # (s,) int64 sorted
    facets: dict[str, sp.csr_array]  # facet → (s, values) binary, columns are the facet's ids in `facet_ids`
    facet_ids: dict[str, np.ndarray]  # facet → (values,) int64 the id of each column
    text: sp.csr_array  # (s, vocabulary) float64 TF-IDF, each non-empty row of unit length
    by_column: dict[str, sp.csc_array]  # the same matrices by column: facet names and "text"

    @classmethod
    def build(cls, service_ids: Sequence[int], facets: dict[str, Sequence[Iterable[int]]],
              texts: Sequence[str]) -> ServiceContent:
        """From (s,) sorted unique ids, each facet's id lists per service and each service's text, in that order."""
        service_ids = np.asarray(service_ids, dtype=np.int64)
        built, ids_of = {}, {}
        for name in FACETS:
            built[name], ids_of[name] = _binary_rows(facets.get(name) or [()] * service_ids.size)
        text = _tf_idf(texts)
        by_column = {name: matrix.tocsc() for name, matrix in {**built, "text": text}.items()}
        return cls(service_ids, built, ids_of, text, by_column)

    @classmethod
    def empty(cls) -> ServiceContent:
        """No services (the catalogue before any snapshot)."""
        return cls.build([], {}, [])

    def __len__(self) -> int:
        return int(self.service_ids.size)

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays, in bytes."""
        matrices = [*self.facets.values(), self.text, *self.by_column.values()]
        return (self.service_ids.nbytes + sum(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in matrices)
                + sum(ids.nbytes for ids in self.facet_ids.values()))

    def similarities(self, row: int) -> dict[str, np.ndarray]:
        """How much every service is like the one in `row`: facet → (s,) Jaccard, and "text" → (s,) cosine."""
        found = {name: _jaccard(matrix, self.by_column[name], row) for name, matrix in self.facets.items()}
        found["text"] = _dot_with_every_row(self.text, self.by_column["text"], row)
        return found

    def shared(self, facet: str, row: int, other: int) -> np.ndarray:
        """The ids of `facet` that the services in rows `row` and `other` share, in id order."""
        matrix = self.facets[facet]
        mine = matrix.indices[matrix.indptr[row]:matrix.indptr[row + 1]]
        theirs = matrix.indices[matrix.indptr[other]:matrix.indptr[other + 1]]
        return self.facet_ids[facet][np.intersect1d(mine, theirs)]

    @cached_property
    def index(self) -> IdIndex:
        """Row of each service id."""
        return IdIndex(self.service_ids)


def _binary_rows(rows: Sequence[Iterable[int]]) -> tuple[sp.csr_array, np.ndarray]:
    """Id lists per row → a (rows, distinct ids) 0/1 CSR matrix and the id of each column."""
    lists = [sorted({int(v) for v in values or ()}) for values in rows]
    flat = np.array([v for values in lists for v in values], dtype=np.int64)
    ids, columns = np.unique(flat, return_inverse=True)
    indptr = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum([len(values) for values in lists], out=indptr[1:])
    return sp.csr_array((np.ones(flat.size), columns.astype(np.int64), indptr), shape=(len(lists), ids.size)), ids


def _jaccard(by_row: sp.csr_array, by_column: sp.csc_array, row: int) -> np.ndarray:
    """(s,) |A ∩ B| / |A ∪ B| of every row's set with row `row`'s; 0 where either is empty."""
    sizes = np.diff(by_row.indptr).astype(np.float64)  # (s,)
    overlap = _dot_with_every_row(by_row, by_column, row)  # (s,)
    union = sizes + sizes[row] - overlap
    return np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0)


def _dot_with_every_row(by_row: sp.csr_array, by_column: sp.csc_array, row: int) -> np.ndarray:
    """(s,) the dot product of row `row` with every row: each of its columns adds its entries, weighted."""
    start, end = by_row.indptr[row], by_row.indptr[row + 1]
    columns, weights = by_row.indices[start:end], by_row.data[start:end]  # (t,)
    entries, column_of_entry = gather_rows(by_column.indptr, columns)  # (e,)
    return np.bincount(by_column.indices[entries], weights=by_column.data[entries] * weights[column_of_entry],
                       minlength=by_row.shape[0]).astype(np.float64)


def _tf_idf(texts: Sequence[str]) -> sp.csr_array:
    """(s, vocabulary) TF-IDF rows of unit length (an empty text's row stays empty)."""
    vocabulary: dict[str, int] = {}
    columns, counts, indptr = [], [], [0]
    for text in texts:
        for term, times in Counter(words(text or "")).items():
            columns.append(vocabulary.setdefault(term, len(vocabulary)))
            counts.append(times)
        indptr.append(len(columns))
    n = len(texts)
    counts_matrix = sp.csr_array((np.asarray(counts, dtype=np.float64), np.asarray(columns, dtype=np.int64),
                                  np.asarray(indptr, dtype=np.int64)), shape=(n, len(vocabulary)))
    counts_matrix.sort_indices()
    document_frequency = np.bincount(counts_matrix.indices, minlength=len(vocabulary))  # (vocabulary,)
    idf = np.log((1.0 + n) / (1.0 + document_frequency)) + 1.0
    idf[document_frequency > MAX_DOCUMENT_SHARE * max(n, 2)] = 0.0
    weighted = counts_matrix.copy()
    weighted.data = (1.0 + np.log(weighted.data)) * idf[weighted.indices]
    weighted.eliminate_zeros()
    lengths = np.sqrt(np.asarray((weighted * weighted).sum(axis=1)).reshape(-1))  # (s,)
    weighted.data /= np.repeat(np.where(lengths > 0, lengths, 1.0), np.diff(weighted.indptr))
    return weighted
