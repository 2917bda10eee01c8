"""Celery is bound to the app; tasks run in a real worker process."""
import os
import time

from app import jobs, tasks
from app.celery_app import TaskLimits
from app.queues import QUEUES
from app.storage.jobs import Job


def wait_for_job(job_id, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = jobs.job_status(job_id)
        if status["state"] in ("SUCCESS", "FAILURE", "REVOKED"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {status['state']} after {timeout} s")


def test_configuration_is_json_only_with_two_queues(app):
    conf = app.extensions["celery"].conf
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert {q.name for q in conf.task_queues} == set(QUEUES)
    assert conf.broker_url == app.config["REDIS_URL"]


def test_training_tasks_are_routed_to_the_training_queue(app):
    router = app.extensions["celery"].amqp.router
    names = [name for name in app.extensions["celery"].tasks if name.startswith("marketrec.")]
    training = [name for name in names if name.startswith("marketrec.training.")]
    assert {"marketrec.training.ncf", "marketrec.training.rl"} <= set(training)
    for name in names:
        expected = "training" if name in training else "default"
        assert router.route({}, name)["queue"].name == expected, name


def test_idempotent_tasks_ack_late_and_retry_transient_errors():
    assert tasks.selfcheck.acks_late is True
    assert tasks.selfcheck.max_retries == 5  # TASK_MAX_RETRIES's default
    assert ConnectionError in tasks.selfcheck.autoretry_for


def test_a_task_runs_in_a_real_worker_against_mongo_and_the_result_backend(app, db, worker):
    with app.app_context():
        job = jobs.start_job(tasks.selfcheck)
        status = wait_for_job(job.id)
        assert status["state"] == "SUCCESS", status
        assert status["result"]["pid"] != os.getpid()  # another process did the work
        assert status["result"]["database"] == "ok"
        # The worker copied the final state into the job's record.
        stored = Job.objects.get(id=job.id)
        assert stored.state == "SUCCESS" and stored.percent == 100 and stored.finished_at
        assert stored.result["pid"] == status["result"]["pid"]


def test_a_task_runs_inside_the_app_context(app, worker):
    # Through this app's Celery: another test's app may have become the default one since.
    result = app.extensions["celery"].tasks[tasks.prune_jobs.name].apply_async().get(timeout=30)
    assert result["retention_days"] == app.config["JOB_RETENTION_DAYS"]


def test_every_training_job_of_the_engine_table_is_a_registered_task(app):
    registered = app.extensions["celery"].tasks
    assert list(tasks.TRAINERS) == ["interaction_models", "ncf", "rl"]  # the order a new snapshot queues them
    for task_name in tasks.TRAINERS.values():
        assert task_name in registered, task_name


def test_the_retry_limit_is_the_setting_and_only_for_retrying_tasks():
    limits = TaskLimits(training_seconds=600, max_retries=2)
    assert limits.annotate(tasks.selfcheck) == {"max_retries": 2}
    assert limits.annotate(tasks.run_ncf_training)["max_retries"] == 2
    assert limits.annotate(tasks.run_ncf_training)["time_limit"] == 600
    assert limits.annotate(tasks.recover_lost_jobs) is None  # retries nothing, not a training task


def test_training_tasks_get_the_training_time_limit(app):
    task = app.extensions["celery"].tasks["marketrec.training.interaction_models"]
    assert task.time_limit == app.config["TRAINING_TIME_LIMIT_SECONDS"]
    assert task.soft_time_limit < task.time_limit
    assert app.extensions["celery"].tasks["marketrec.selfcheck"].time_limit == app.config["TASK_TIME_LIMIT_SECONDS"]


def test_beat_schedules_job_pruning_lost_job_recovery_and_model_refits(app):
    schedule = app.extensions["celery"].conf.beat_schedule
    assert {entry["task"] for entry in schedule.values()} == {
        "marketrec.jobs.prune", "marketrec.jobs.recover", "marketrec.training.interaction_models",
        "marketrec.training.check", "marketrec.served.fold"}
    assert schedule["recover-lost-jobs"]["schedule"] == app.config["RECOVER_JOBS_SECONDS"]
    assert schedule["fold-served-outcomes"]["schedule"] == app.config["SERVED_OUTCOMES_FOLD_SECONDS"]
