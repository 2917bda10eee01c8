"""Sticky, stateless assignment: uniform over people, the same for a person every time,
independent between experiments, every share honoured."""
from __future__ import annotations

import uuid

import numpy as np
import pytest

from app.experiments.assignment import pick, point_of, unit_of, variant_index


def test_a_person_is_the_user_when_logged_in_else_the_browser():
    assert unit_of(42, "5642C351-80FE-44CF-B606-304F2F338122") == "user:42"
    assert unit_of(None, "5642C351-80FE-44CF-B606-304F2F338122") == "visitor:5642c351-80fe-44cf-b606-304f2f338122"
    assert unit_of(None, None) is None and unit_of(None, "") is None


def test_the_same_person_gets_the_same_point_and_a_known_one():
    assert point_of("e1", "user:1") == point_of("e1", "user:1")
    # sha256("e1:user:1")'s first 8 bytes over 2**64: fixed across processes, versions and machines.
    assert point_of("e1", "user:1") == int("eda7e2d2b032b239", 16) / 2**64
    assert 0 <= point_of("e1", "user:1") < 1


def test_points_are_uniform_over_people():
    points = np.array([point_of("experiment", f"visitor:{uuid.UUID(int=n)}") for n in range(20000)])
    counts, _ = np.histogram(points, bins=10, range=(0, 1))
    expected = 2000
    chi_square = float(((counts - expected) ** 2 / expected).sum())
    assert chi_square < 27.9  # the 0.999 quantile of chi-square with 9 degrees of freedom


@pytest.mark.parametrize("shares", [(0.5, 0.5), (0.7, 0.3), (0.1, 0.2, 0.7), (0.25,) * 4])
def test_each_variant_gets_its_share(shares):
    people = 20000
    seen = np.bincount([variant_index("e", f"user:{n}", shares) for n in range(people)], minlength=len(shares))
    for share, count in zip(shares, seen):
        assert abs(count - share * people) < 4 * (people * share * (1 - share)) ** 0.5


def test_two_experiments_split_people_independently():
    people = [f"user:{n}" for n in range(8000)]
    first = np.array([variant_index("first", p, (0.5, 0.5)) for p in people])
    second = np.array([variant_index("second", p, (0.5, 0.5)) for p in people])
    both = np.mean((first == 1) & (second == 1))
    assert abs(both - 0.25) < 4 * (0.25 * 0.75 / len(people)) ** 0.5


def test_pick_covers_the_whole_interval():
    assert pick(0.0, (0.5, 0.5)) == 0
    assert pick(0.4999, (0.5, 0.5)) == 0
    assert pick(0.5, (0.5, 0.5)) == 1
    assert pick(0.9999999999, (0.1, 0.2, 0.7)) == 2
    assert pick(0.9999999999999999, (0.3, 0.3, 0.3999999999999999)) == 2  # shares a hair under 1
