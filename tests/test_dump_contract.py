"""The dump's keys are one list: the wire schema, the stored documents and the generated
marketplaces all follow app/dump_contract.py, in its order."""
from __future__ import annotations

import pytest

from app.dump_contract import DUMP_KEYS, service_slug
from app.sample_data.synthetic import empty_dump
from app.storage.marketplace import DUMP_COLLECTIONS
from app.wire.dump import ITEM_MODELS


def test_schema_and_storage_map_the_contract_keys_in_its_order():
    assert tuple(ITEM_MODELS) == DUMP_KEYS
    assert tuple(DUMP_COLLECTIONS) == DUMP_KEYS


def test_an_empty_dump_has_every_key_in_the_contract_order():
    assert tuple(empty_dump()) == DUMP_KEYS


@pytest.mark.parametrize("name, slug", [
    ("EGI Cloud Compute", "egi-cloud-compute"),  # the contract's example page
    ("B2SHARE (EUDAT)", "b2share-eudat"),
    ("^très|Jolie-- ", "tres-jolie"),  # accents folded, separators squeezed and trimmed
    ("Łódź Data Hub", "lodz-data-hub"),
    ("x86_64 VMs", "x86_64-vms"),  # underscores stay, as in the marketplace's slugs
    ("", ""),
])
def test_a_service_page_slug_is_made_from_its_name_as_the_marketplace_does(name, slug):
    assert service_slug(name) == slug
