"""The dataset counter and the writer lease stay atomic when first writers race (two dumps
at once): SecantusDB answers None, not a duplicate key, to the loser of two racing upserts."""
import threading

from app.storage.snapshots import acquire_writer_lease, next_sequence, release_writer_lease

RACERS = 8


def race(app, work) -> list:
    """`work(n)` in RACERS threads let go at once; what each returned, or the exception it raised."""
    outcomes, start = [], threading.Barrier(RACERS)

    def run(n):
        with app.app_context():
            start.wait()
            try:
                outcomes.append(work(n))
            except Exception as exc:  # noqa: BLE001 - returned, asserted by the caller
                outcomes.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_racing_first_increments_of_a_counter_each_get_their_own_number(app, db):
    for attempt in range(20):
        numbers = race(app, lambda n, name=f"race-{attempt}": next_sequence(name))
        assert all(isinstance(number, int) for number in numbers), numbers
        assert len(set(numbers)) == RACERS, numbers


def test_racing_writers_on_a_free_lease_get_it_once(app, db):
    for attempt in range(20):
        holders = [f"ingest:{attempt}:{n}" for n in range(RACERS)]
        outcomes = race(app, lambda n, holders=holders: (holders[n], acquire_writer_lease(holders[n], 60)))
        assert all(isinstance(outcome, tuple) for outcome in outcomes), outcomes
        won = [holder for holder, took in outcomes if took]
        assert len(won) == 1, won
        with app.app_context():
            release_writer_lease(won[0])
