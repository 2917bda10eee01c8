"""The latest interactions of each user and visitor, kept in Redis for the request path.

Every recommendation request needs the asker's latest interactions. From MongoDB
that is two queries per identity (actions and events), up to four per request,
which took more than half of the request's time on SecantusDB. Here each
identity (`user:<id>`, `visitor:<unique_id>`) has a sorted set in Redis, scored
by timestamp, holding its latest `limit` interactions; one pipelined round trip
reads both identities of a request, and one more fills the sets that missed.

MongoDB stays the record; the cache is only ever a copy of it:
- A set is created only by a read that missed, from MongoDB, and carries a
  completeness marker (score +inf, above every interaction, so trimming keeps it).
  A set without the marker is not trusted.
- Writes add to sets that exist (a script checks the marker) and never create one,
  so a user who is written but never asked about costs no memory.
- Each write bumps the identity's write counter first. A read that missed fills
  the set only if the counter is what it was before the MongoDB query, so a
  write racing the fill is never hidden: either the fill is dropped, or the
  write's script runs after it and adds to it.
- Sets and counters expire after `HISTORY_CACHE_TTL_SECONDS` without use
  (0 turns the cache off). When Redis fails, reads go to MongoDB.
- It may live on its own Redis that evicts (docker-compose: `allkeys-lru`): an
  evicted set is refilled from MongoDB on the next read, and an evicted counter
  makes a pending fill see a different value and drop itself.

Known gap: an order whose journey's service cannot be resolved when it arrives
(its earlier actions not stored yet) drops the identity's set, and a refill
made before those actions arrive misses the order until the set expires.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

import redis
from flask import current_app
from redis.exceptions import RedisError

from app.engines.interactions import seconds_since_epoch
from app.errors import ServiceUnavailable
from app.marketplace import history
from app.observability.logs import OutageWarning
from app.redis_clients import redis_client
from app.storage import database

log = logging.getLogger(__name__)
_unavailable = OutageWarning(log, "history cache unavailable; reading MongoDB")
_fill_failed = OutageWarning(log, "history cache fill failed")
_update_failed = OutageWarning(log, "history cache update failed; its sets may lack writes until they expire")
KEPT = 100  # interactions kept per identity; serving asks for as many (service.HISTORY_LIMIT)
MARKER = "complete"
_clients: dict[str, redis.Redis] = {}

# KEYS[1] the set; ARGV: ttl, limit, then score, member pairs. Adds only to a complete set.
_ADD = """
if redis.call('ZSCORE', KEYS[1], 'complete') then
  for i = 3, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1]) end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[2]) + 2))
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
"""
# KEYS[1] the set, KEYS[2] its write counter; ARGV: counter seen before the query ('' for none),
# ttl, then score, member pairs. Replaces the set unless a write came in since.
_FILL = """
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZADD', KEYS[1], 'inf', 'complete')
for i = 3, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


def _settings() -> tuple[str, int]:
    config = current_app.config
    return config["HISTORY_CACHE_REDIS_URL"], config["HISTORY_CACHE_TTL_SECONDS"]


def _client() -> redis.Redis | None:
    url, ttl = _settings()
    if ttl <= 0:
        return None
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis_client(url, current_app.config["REDIS_SENTINEL_MASTER"], timeout=0.5)
    return client


def _prefix() -> str:
    return f"marketrec:{database().name}:history:"


def _keys(identity: str) -> tuple[str, str]:
    """The sorted set and the write counter of `user:<id>` or `visitor:<unique_id>`."""
    return _prefix() + identity, _prefix() + "writes:" + identity


def _member(item: dict) -> tuple[float, str]:
    """(score, member): the interaction's id keeps a retried write from being counted twice."""
    return seconds_since_epoch(item["timestamp"]), f"{item['service_id']}|{item['type']}|{item['id']}"


def _identities(item: dict) -> list[str]:
    found = []
    if item.get("user_id") is not None:
        found.append(f"user:{int(item['user_id'])}")
    if item.get("unique_id"):
        found.append(f"visitor:{item['unique_id']}")
    return found


def recent(user_id: int | None, unique_id: str | None, limit: int = KEPT) -> list[history.Interaction]:
    """The latest `limit` interactions of the user and the latest `limit` of the visitor, oldest
    first, timestamps in seconds, each once (an action of a logged-in visitor is in both);
    from Redis where the set is complete, else from MongoDB."""
    depth = max(limit, KEPT)
    wanted = []
    if user_id is not None:
        wanted.append((f"user:{int(user_id)}", lambda: history.latest_of_user(user_id, depth)))
    if unique_id:
        wanted.append((f"visitor:{unique_id.lower()}", lambda: history.latest_of_visitor(unique_id, depth)))
    client = _client() if wanted and limit <= KEPT else None
    cached = _read(client, [identity for identity, _ in wanted], limit) if client is not None else None
    by_id, fills = {}, []
    for position, (identity, from_database) in enumerate(wanted):
        hit, items, writes_seen = cached[position] if cached is not None else (False, {}, None)
        if not hit:
            latest = from_database()
            if cached is not None:
                fills.append((identity, latest[-KEPT:], writes_seen))
            items = {str(i["id"]): history.Interaction(i["service_id"], i["type"], seconds_since_epoch(i["timestamp"]))
                     for i in latest[max(len(latest) - limit, 0):]}
        by_id.update(items)
    if fills:
        _fill(client, fills)
    return sorted(by_id.values(), key=lambda record: record.timestamp)


def _read(client: redis.Redis, identities: list[str], limit: int) -> list[tuple] | None:
    """Per identity: (complete?, {id: interaction}, write counter seen); None if Redis failed."""
    pipeline = client.pipeline(transaction=False)
    for identity in identities:
        key, counter = _keys(identity)
        pipeline.zrevrange(key, 0, limit, withscores=True)  # the marker, then the latest `limit`
        pipeline.get(counter)
    try:
        replies = pipeline.execute()
    except RedisError as exc:
        _unavailable(exc)
        return None
    found = []
    for newest_first, writes_seen in zip(replies[::2], replies[1::2]):
        if not newest_first or newest_first[0][0] != MARKER.encode():
            found.append((False, {}, writes_seen))
            continue
        items = {}
        for member, score in newest_first[1:]:
            service_id, kind, interaction_id = member.decode().split("|", 2)
            items[interaction_id] = history.Interaction(int(service_id), kind, score)
        found.append((True, items, writes_seen))
    return found


def _fill(client: redis.Redis, fills: list[tuple[str, list[dict], bytes | None]]) -> None:
    """Fill the sets of (identity, interaction dicts read from MongoDB, write counter seen before
    the read), in one round trip: a session's first view fills the user's and the visitor's."""
    pipeline = client.pipeline(transaction=False)
    for identity, items, writes_seen in fills:
        key, counter = _keys(identity)
        pairs = [part for item in items for part in _member(item)]
        pipeline.eval(_FILL, 2, key, counter, (writes_seen or b"").decode(), _settings()[1], *pairs)
    try:
        pipeline.execute()
    except RedisError as exc:
        _fill_failed(exc)


def note_written(items: Iterable[dict]) -> None:
    """After interactions are stored in MongoDB: add them to the sets that exist.

    Items are interaction dicts (id, user_id, unique_id, service_id, type, timestamp);
    a None service_id means "cannot say yet" and drops the identity's sets instead."""
    client = _client()
    if client is None:
        return
    ttl = _settings()[1]
    additions: dict[str, list] = {}
    dropped: set[str] = set()
    for item in items:
        for identity in _identities(item):
            if item["service_id"] is None:
                dropped.add(identity)
            else:
                additions.setdefault(identity, []).extend(_member(item))
    pipeline = client.pipeline(transaction=False)
    for identity in {*additions, *dropped}:
        key, counter = _keys(identity)
        pipeline.incr(counter)  # before the set changes: a fill that read MongoDB earlier is dropped
        pipeline.expire(counter, ttl)
        if identity in dropped:
            pipeline.delete(key)
        else:
            pipeline.eval(_ADD, 1, key, ttl, KEPT, *additions[identity])
    try:
        pipeline.execute()
    except RedisError as exc:
        # The sets may now lack these writes: they expire within the TTL. Serving stays up.
        _update_failed(exc)


def action_items(docs: Iterable[dict]) -> list[dict]:
    """Stored user-action documents → interaction dicts for `note_written`: the ones about a service,
    and orders whose journey could not give one when stored (service_id None: a refill from MongoDB
    walks their journey again)."""
    never_asked = history.OrderServices()
    items = []
    for doc in docs:
        if doc.get("service_id") is not None or doc.get("order_service_id") is not None:
            items.append(history.action_interaction(doc, never_asked))
        elif doc.get("action", {}).get("order"):
            items.append({**doc, "id": doc["_id"], "service_id": None, "type": "order"})
    return items


def event_items(docs: Iterable[dict]) -> list[dict]:
    return [history.event_interaction(doc) for doc in docs]


def forget(user_ids: Iterable[int] = (), unique_ids: Iterable[str] = ()) -> None:
    """Drop the sets of these identities (their data was deleted in MongoDB)."""
    identities = [f"user:{int(u)}" for u in user_ids] + [f"visitor:{v}" for v in unique_ids]
    client = _client()
    if client is None or not identities:
        return
    pipeline = client.pipeline(transaction=False)
    for identity in identities:
        key, counter = _keys(identity)
        pipeline.incr(counter)
        pipeline.expire(counter, _settings()[1])
        pipeline.delete(key)
    try:
        pipeline.execute()
    except RedisError as exc:  # a deletion must not leave a copy behind; deleting again is safe
        raise ServiceUnavailable("the history cache is unavailable, retry later", {"history_cache": str(exc)}) from exc


def forget_all() -> int:
    """Drop every set of this database (after interactions were dropped wholesale); how many keys."""
    client = _client()
    if client is None:
        return 0
    keys = list(client.scan_iter(match=_prefix() + "*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start:start + 1000])
    return len(keys)
