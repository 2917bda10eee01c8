"""latest_jobs: the newest job records first, read in a bounded time window."""
from __future__ import annotations

import uuid
from datetime import timedelta

from app.storage.jobs import Job, latest_jobs, utcnow
from tests.fixtures.mongo_commands import recorded_finds


def store_jobs(ages: list[timedelta]) -> list[str]:
    """Job records created `age` ago, as the API leaves them; their ids in the same order."""
    now, ids = utcnow(), []
    for age in ages:
        job = Job(id=str(uuid.uuid4()), name="marketrec.selfcheck", state="SUCCESS", created_at=now - age)
        ids.append(job.save(force_insert=True).id)
    return ids


def test_the_latest_jobs_come_newest_first_up_to_the_limit(db):
    ids = store_jobs([timedelta(minutes=minutes) for minutes in (5, 1, 30, 20)])
    assert [job.id for job in latest_jobs(3)] == [ids[1], ids[0], ids[3]]


def test_the_window_widens_until_it_holds_enough(db):
    ids = store_jobs([timedelta(minutes=10), timedelta(hours=5), timedelta(days=3), timedelta(days=60)])
    assert [job.id for job in latest_jobs(3)] == ids[:3]
    # Older than the widest window: not listed (the records are pruned after 30 days by default).
    assert [job.id for job in latest_jobs(10)] == ids[:3]


def test_a_full_first_window_is_the_only_read(db):
    store_jobs([timedelta(minutes=minutes) for minutes in range(5)] + [timedelta(days=2)] * 20)
    with recorded_finds() as finds:
        assert len(latest_jobs(5)) == 5
    assert [collection for collection, _ in finds] == ["jobs"]
    assert "$gte" in finds[0][1]["created_at"]


def test_the_read_walks_the_created_at_index(db):
    store_jobs([timedelta(minutes=minutes) for minutes in range(40)])
    with recorded_finds() as finds:
        latest_jobs(30)
    (_, query), = finds
    plan = db["jobs"].find(query).sort("created_at", -1).limit(30).explain()
    winning = str(plan["queryPlanner"]["winningPlan"])
    assert "IXSCAN" in winning and "created_at" in winning and "COLLSCAN" not in winning
