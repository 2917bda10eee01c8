"""Service content: facet overlap and TF-IDF text similarity, as sparse features."""
from __future__ import annotations

import numpy as np

from app.engines import ServiceContent
from app.engines.content import words


def test_facets_overlap_as_jaccard():
    content = ServiceContent.build([1, 2, 3, 4], {"categories": [[1, 2], [2, 3], [4], []]}, ["", "", "", ""])
    overlap = content.similarities(0)["categories"]
    assert np.allclose(overlap, [1.0, 1 / 3, 0.0, 0.0])  # {1,2}∩{2,3} = {2} of {1,2,3}
    assert content.shared("categories", 0, 1).tolist() == [2]
    assert np.allclose(content.similarities(3)["categories"], 0.0)  # no categories: like nothing


def test_text_rows_have_unit_length_and_rare_shared_words_count():
    texts = ["Genome sequencing archive", "Ocean sensor archive", "Genome sequencing pipeline", "", "Cloud compute"]
    content = ServiceContent.build([1, 2, 3, 4, 5], {}, texts)
    lengths = np.sqrt(np.asarray((content.text * content.text).sum(axis=1)).reshape(-1))
    assert np.allclose(lengths, [1, 1, 1, 0, 1])
    text = content.similarities(0)["text"]
    assert text[0] == np.max(text) and np.isclose(text[0], 1.0)
    assert text[2] > text[1] > 0.0  # two shared words beat one
    assert text[3] == text[4] == 0.0


def test_words_are_lower_cased_alphanumeric_runs():
    assert words("EGI Cloud-Compute: 2 VMs, x86_64") == ["egi", "cloud", "compute", "vms", "x86", "64"]
    assert words("a b1 c22 ddd e ab_c é") == ["b1", "c22", "ddd", "ab"]  # runs of one character are no words


def test_an_empty_catalogue_has_no_rows():
    content = ServiceContent.empty()
    assert len(content) == 0 and content.nbytes >= 0
