"""gunicorn settings (read automatically from the working directory)."""
import os

from pymongo.errors import PyMongoError

bind = os.environ.get("BIND", "0.0.0.0:5000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gevent: each worker serves its connections from one OS thread, switching between
# them where they wait on the database, Redis or a socket. Serving is CPU-bound; 8
# gthread threads per worker handing the GIL around switched context 10 to 29 times
# a request (gevent 3 to 4) and answered fewer requests per second under load
# (docs/benchmarks.md, Serving).
# CPU-long work inside a request goes through app.offload.cpu_bound so the worker's
# other requests go on. Concurrent writes of one worker share a database round trip
# either way (app/storage/interactions.py). `gthread` (with GUNICORN_THREADS) and
# `sync` work too.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))  # gevent only
threads = int(os.environ.get("GUNICORN_THREADS", "8"))  # gthread only
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))  # a large dump upload takes a while
# A request line longer than this (method, path, query) gets gunicorn's own 414 in
# text/html before the app sees it. No operation needs a query near it.
limit_request_line = int(os.environ.get("GUNICORN_LIMIT_REQUEST_LINE", "4094"))
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
    # Build the catalogue index and load the active models before taking requests, then
    # keep them fresh in the background, so no request waits for them.
    from app.storage import open_collections

    app = worker.wsgi
    holder = app.extensions["serving_state"]
    try:
        with app.app_context():
            open_collections()  # mongoengine's one-time index checks, not in the first request
            holder.warm()
    except PyMongoError as exc:  # the database is down: the first request builds it instead
        worker.log.warning("could not warm the serving state, the database is unreachable: %s", exc)
    except Exception:
        worker.log.exception("could not warm the serving state")
    holder.start_refresher(app)
