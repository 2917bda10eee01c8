import numpy as np

from app.recommendations.catalogue_index import CatalogueIndex

SERVICES = [
    {"marketplace_id": 3, "name": "EGI Cloud Compute", "tagline": "VMs on demand", "description": "",
     "categories": [1], "scientific_domains": [10], "providers": [100], "platforms": [7],
     "target_users": [1], "countries": ["WW"], "order_type": "open_access"},
    {"marketplace_id": 1, "name": "B2SHARE", "tagline": "Share research data", "description": "store and share",
     "categories": [2], "scientific_domains": [10, 11], "providers": [101], "platforms": [],
     "target_users": [2], "countries": ["PL", "DE"], "order_type": "order_required"},
    {"marketplace_id": 2, "name": "Jupyter Notebooks", "tagline": "Compute in notebooks", "description": None,
     "categories": [1, 2], "scientific_domains": [11], "providers": [100], "platforms": [7],
     "target_users": [1, 2], "countries": ["DE"], "order_type": "open_access"},
]
index = CatalogueIndex.build("ds-1", SERVICES)


def ids(array):
    return array.tolist()


def test_everything_is_eligible_without_filters():
    assert ids(index.eligible()) == [1, 2, 3]


def test_candidates_are_intersected_with_the_catalogue_and_filters_ignored():
    assert ids(index.eligible(candidates=[2, 3, 99], search_data={"categories": [2]})) == [2, 3]


def test_or_within_a_facet_and_across_facets():
    assert ids(index.eligible(search_data={"categories": [1, 2]})) == [1, 2, 3]
    assert ids(index.eligible(search_data={"categories": [1], "scientific_domains": [11]})) == [2]
    assert ids(index.eligible(search_data={"geographical_availabilities": ["DE"], "order_type": "open_access"})) == [2]
    assert ids(index.eligible(search_data={"related_platforms": [7], "providers": [100]})) == [2, 3]


def test_query_words_match_name_tagline_or_description_case_insensitively():
    assert ids(index.eligible(search_data={"q": "COMPUTE"})) == [2, 3]
    assert ids(index.eligible(search_data={"q": "share store"})) == [1]
    assert ids(index.eligible(search_data={"q": "nothing-like-this"})) == []


def test_exclusions_and_unknown_values():
    assert ids(index.eligible(exclude=[2])) == [1, 3]
    assert ids(index.eligible(search_data={"categories": [999]})) == []
    assert index.eligible().dtype == np.int64
