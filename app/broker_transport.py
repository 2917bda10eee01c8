"""kombu's Redis transports with one fix: a channel closed after a lost connection can still
put its unacknowledged messages back.

When a worker loses the broker (a Redis master killed, a Sentinel failover), Celery collects
the broken connection, which detaches its transport (`transport.client = None`), and then
closes the connection's channel. Closing restores the messages the worker had taken but not
acknowledged, through a new connection pool whose parameters `_connparams` reads from
`transport.client`: with kombu 5.7 that raised `AttributeError: 'NoneType' object has no
attribute 'hostname'`, which Celery reports as an unrecoverable error, and the worker exited
(tests/test_redis_sentinel.py saw it in 5 of 11 failovers, each time a task was running).
Here each channel keeps the connection it was opened for, and hands it back to its detached
transport when it needs it again, so the messages are put back (on the promoted replica, after
a failover) and the worker reconnects instead of exiting.

Celery uses these classes through `broker_transport` (app/celery_app.py).
"""
from __future__ import annotations

from kombu.transport import redis as kombu_redis


class _RestoresAfterLoss:
    def __init__(self, connection, *args, **kwargs):
        self._opened_for = connection.client  # the kombu Connection; the transport may let go of it
        super().__init__(connection, *args, **kwargs)

    def _connparams(self, asynchronous=False):
        if self.connection.client is None:  # detached after a lost connection, and closing now
            self.connection.client = self._opened_for
        return super()._connparams(asynchronous)


class Channel(_RestoresAfterLoss, kombu_redis.Channel):
    pass


class SentinelChannel(_RestoresAfterLoss, kombu_redis.SentinelChannel):
    pass


class Transport(kombu_redis.Transport):
    Channel = Channel


class SentinelTransport(kombu_redis.SentinelTransport):
    Channel = SentinelChannel
