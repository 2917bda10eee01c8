"""The dataset counter stays atomic when its first increments race (two dumps at once)."""
import threading

from app.storage.snapshots import next_sequence

RACERS = 8


def race_first_increments(app, name: str) -> tuple[list[int], list[Exception]]:
    numbers, errors, start = [], [], threading.Barrier(RACERS)

    def take():
        with app.app_context():
            start.wait()
            try:
                numbers.append(next_sequence(name))
            except Exception as exc:  # noqa: BLE001 - collected, asserted by the caller
                errors.append(exc)

    threads = [threading.Thread(target=take) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return numbers, errors


def test_racing_first_increments_of_a_counter_each_get_their_own_number(app, db):
    for attempt in range(20):
        numbers, errors = race_first_increments(app, f"race-{attempt}")
        assert errors == []
        assert len(set(numbers)) == RACERS, numbers
