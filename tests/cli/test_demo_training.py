"""`flask data demo` queues every trained engine: NCF, then RL, on the training queue."""
from __future__ import annotations

import redis

from app.storage.jobs import Job
from app.storage.snapshots import active_snapshot_id
from tests.sample_data.test_movielens import write_sample


def test_the_demo_queues_ncf_then_rl_training_on_the_loaded_snapshot(settings, app, db, tmp_path):
    from app import create_app

    # A broker database no worker listens on: the jobs stay queued, and are dropped at the end.
    broker = settings["REDIS_URL"].rsplit("/", 1)[0] + "/8"
    idle = create_app(settings | {"CELERY_BROKER_URL": broker})
    try:
        # The `db` fixture has the suite's app context pushed, and a CLI command runs in the
        # context it finds: push the idle app's, or the jobs reach the suite's worker.
        with idle.app_context():
            result = idle.test_cli_runner().invoke(args=["data", "demo", "--directory", str(write_sample(tmp_path))])
            assert result.exit_code == 0, result.output
            snapshot_id = active_snapshot_id()
            jobs = {job.name: job for job in Job.objects(name__startswith="marketrec.training.")}
    finally:
        app.extensions["celery"].set_default()
        redis.Redis.from_url(broker).flushdb()
    assert set(jobs) == {"marketrec.training.ncf", "marketrec.training.rl"}
    ncf, rl = jobs["marketrec.training.ncf"], jobs["marketrec.training.rl"]
    assert ncf.key == f"train:ncf:{snapshot_id}" and rl.key == f"train:rl:{snapshot_id}"
    assert ncf.created_at <= rl.created_at and ncf.state == rl.state == "PENDING"
    assert f"NCF training queued: job {ncf.id}" in result.output
    assert f"RL training queued: job {rl.id}" in result.output
