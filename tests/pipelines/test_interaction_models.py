"""Popularity and Session refits read a snapshot's users and services once per process, and
scheduled ones only the interactions that arrived since the last."""
from datetime import datetime, timedelta, timezone

from app.marketplace.events import store_events
from app.marketplace.users import delete_user_data
from app.pipelines import interaction_models
from app.storage.jobs import utcnow
from app.storage.models import ModelVersion
from tests.fixtures.journeys import wire_time
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


def test_a_scheduled_refit_reads_what_arrived_since_and_a_deletion_makes_the_next_one_read_all(app, db):
    serve_marketplace(app)
    deleted_user = 4242
    recent = [{"user_id": deleted_user, "service_id": service_id, "type": "order",
               "timestamp": wire_time(datetime.now(timezone.utc) - timedelta(minutes=minutes))}
              for minutes, service_id in ((2, 1), (1, 2))]
    with app.app_context():
        everything = interaction_models.fit_interaction_models()
        ModelVersion.objects(engine="Popularity").update(set__created_at=utcnow() - timedelta(hours=1))
        store_events(recent)
        extended = interaction_models.fit_interaction_models(scheduled=True)
        assert everything["read"]["full"] is True
        assert extended["read"]["full"] is False and extended["read"]["read"] < everything["read"]["read"]
        assert extended["interactions"] == everything["interactions"] + 2

        delete_user_data(deleted_user)  # marks the active versions stale: the next refit is due at once
        after_deletion = interaction_models.fit_interaction_models(scheduled=True)
    assert after_deletion["status"] == "done" and after_deletion["read"]["full"] is True
    assert after_deletion["interactions"] == everything["interactions"]
