"""Celery entry point: celery -A worker worker | celery -A worker beat."""
from app import create_app
from app.celery_app import WORKER_SETTINGS

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
celery_app.conf.update(WORKER_SETTINGS)  # before anything built the result backend, which reads them
