"""Redis clients from a settings URL: one server, or the master a set of Sentinels watches.

A URL names one server (`redis://host:6379/0`) or, in the form Celery and kombu take for
their broker, the Sentinels: `sentinel://host1:26379/0;sentinel://host2:26379/0`. The
Sentinels' master is the one named by REDIS_SENTINEL_MASTER. A Sentinel client asks them
where the master is, and asks again when the master stops answering, so a failover moves
every client of the service (the broker, the result backend, the history copy, the health
check, the lost-job sweep) to the promoted replica without a restart.
"""
from __future__ import annotations

from urllib.parse import unquote, urlparse

import redis
from redis.sentinel import Sentinel

SEPARATOR = ";"


def is_sentinel(url: str) -> bool:
    return url.startswith("sentinel://")


def is_redis(url: str) -> bool:
    """A URL of Redis, directly or through Sentinels (not, say, an AMQP broker's)."""
    return urlparse(url.split(SEPARATOR)[0]).scheme in ("redis", "rediss", "sentinel")


def sentinel_addresses(url: str) -> tuple[list[tuple[str, int]], int, str | None]:
    """The Sentinels (host, port), the database number and the password of a sentinel:// URL."""
    addresses, db, password = [], 0, None
    for chunk in url.split(SEPARATOR):
        parsed = urlparse(chunk.strip())
        if parsed.scheme != "sentinel" or not parsed.hostname:
            raise ValueError(f"not a sentinel:// address: {chunk!r}")
        addresses.append((parsed.hostname, parsed.port or 26379))
        if parsed.path.strip("/"):
            db = int(parsed.path.strip("/"))
        if parsed.password:
            password = unquote(parsed.password)
    return addresses, db, password


def redis_client(url: str, master_name: str, timeout: float) -> redis.Redis:
    """A client of the server `url` names, or of the master its Sentinels report."""
    if not is_sentinel(url):
        return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    addresses, db, password = sentinel_addresses(url)
    sentinels = Sentinel(addresses, socket_timeout=timeout, socket_connect_timeout=timeout)
    return sentinels.master_for(master_name, db=db, password=password, socket_timeout=timeout,
                                socket_connect_timeout=timeout)
