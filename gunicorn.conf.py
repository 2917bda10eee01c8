"""gunicorn settings (read automatically from the working directory)."""
import os

bind = os.environ.get("BIND", "0.0.0.0:5000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads let concurrent writes of one worker share a database round trip
# (see app/storage/interactions.py); serving is CPU-bound and indifferent to them.
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))  # a large dump upload takes a while
graceful_timeout = 20
accesslog = None  # the app logs one structured line per request itself
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def child_exit(server, worker):
    # Multiprocess Prometheus metrics: drop the live gauges of a worker that exited.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    # Build the catalogue index and load the active models before taking requests,
    # so no request waits for them.
    app = worker.wsgi
    try:
        with app.app_context():
            app.extensions["serving_state"].warm()
    except Exception:  # the database may be down: the first request builds it instead
        worker.log.exception("could not warm the serving state")
