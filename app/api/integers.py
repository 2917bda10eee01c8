"""Integers in paths and query strings: ASCII digits only.

Python's int() reads any Unicode decimal digit, so `hours=٣` (Arabic-Indic) and
`/users/３` (fullwidth) would be answered as 3, and werkzeug's `int` converter and
flask-restx's `int_range` both use it. The schema says integer, and a client sending
those meant something else; they get a 400 (query) or 404 (path) instead.
"""
from __future__ import annotations

import re

from werkzeug.routing import IntegerConverter

_ASCII_INTEGER = re.compile(r"-?[0-9]+")


class AsciiIntegerConverter(IntegerConverter):
    """werkzeug's `int` converter, with `[0-9]` where it has `\\d` (which matches every script's digits)."""

    regex = r"[0-9]+"


class integer_in:  # noqa: N801 - named like the flask-restx input types it stands for
    """A query argument's type: an integer written in ASCII digits, from `low` to `high`."""

    def __init__(self, low: int, high: int):
        self.low = low
        self.high = high

    def __call__(self, value) -> int:
        text = str(value)
        if not _ASCII_INTEGER.fullmatch(text):
            raise ValueError(f"{text!r} is not an integer written in digits 0-9")
        number = int(text)
        if not self.low <= number <= self.high:
            raise ValueError(f"{number} is not within {self.low} to {self.high}")
        return number

    @property
    def __schema__(self) -> dict:
        return {"type": "integer", "minimum": self.low, "maximum": self.high}
