"""Popularity and Session refits read a snapshot's users and services once per process."""
from app.recommendations import interaction_models
from tests.recommendations.serving_fixtures import serve_marketplace


def test_a_second_refit_of_a_snapshot_reads_its_users_and_services_from_memory(app, db):
    serve_marketplace(app)  # ingests a dump and fits once
    interaction_models.dump_takings.cache_clear()
    interaction_models.service_categories.cache_clear()
    with app.app_context():
        first = interaction_models.fit_interaction_models()
        second = interaction_models.fit_interaction_models()
    assert first["status"] == second["status"] == "done" and first["interactions"] == second["interactions"]
    for cached in (interaction_models.dump_takings, interaction_models.service_categories):
        assert (cached.cache_info().misses, cached.cache_info().hits) == (1, 1)
