"""Which service a request's panel is shown beside: its context_service_id, or its service page."""
from __future__ import annotations

import pytest

from app.recommendations.catalogue_index import CatalogueIndex
from app.recommendations.similar_services import context_service, service_of_page

CATALOGUE = CatalogueIndex.build("ds-1", [
    {"marketplace_id": 12, "name": "EGI Cloud Compute", "categories": [1], "providers": [5]},
    {"marketplace_id": 40, "name": "B2SHARE (EUDAT)", "categories": [2], "providers": [6]},
    {"marketplace_id": 7, "name": "Łódź Data Hub", "categories": [2], "providers": [6]},
    {"marketplace_id": 99, "name": "EGI cloud-compute", "categories": [1], "providers": [5]},  # the same slug as 12
])


@pytest.mark.parametrize("page_id, service_id", [
    ("/services/egi-cloud-compute", 12),  # the contract's example; the lower id of two with one slug
    ("/services/b2share-eudat", 40),
    ("/services/lodz-data-hub", 7),
    ("/services/egi-cloud-compute/", 12),
    ("/services/egi-cloud-compute?from=search#top", 12),
    ("/services/EGI-Cloud-Compute", 12),
    ("/services/b2share%2Deudat", 40),
])
def test_a_service_page_is_its_service(page_id, service_id):
    assert service_of_page(page_id, CATALOGUE) == service_id


@pytest.mark.parametrize("page_id", [
    "/services", "/services/", "/services/no-such-service", "/services/egi-cloud-compute/offers",
    "/projects", "/services/12", "", None, 12,
])
def test_any_other_page_is_no_service(page_id):
    assert service_of_page(page_id, CATALOGUE) is None


def test_an_explicit_context_service_wins_over_the_page():
    assert context_service({"context_service_id": 40, "page_id": "/services/egi-cloud-compute"}, CATALOGUE) == 40


@pytest.mark.parametrize("service_id", [13, 2**63 - 1])
def test_an_explicit_context_service_that_is_not_served_is_no_context_whatever_the_page(service_id):
    # The id says which service the page is about; the page's slug does not overrule it.
    assert context_service({"context_service_id": service_id, "page_id": "/services/egi-cloud-compute"},
                           CATALOGUE) is None


def test_no_context_service_and_an_ordinary_page_is_no_context():
    assert context_service({"context_service_id": None, "page_id": "/services"}, CATALOGUE) is None
