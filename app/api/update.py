from flask import request
from flask_restx import Namespace, Resource

from app.api.jobs import accepted, accepted_response
from app.marketplace import dumps
from app.offload import cpu_bound, without_gc
from app.wire.checked_model import register
from app.wire.dump import DUMP

ns = Namespace("update", path="/update", description="Full marketplace database dumps")
register(ns, DUMP)


@ns.route("")
class Update(Resource):
    @ns.doc(security="bearer")
    # Checked by check_dump (app/wire/dump.py) when received: the same model, item by
    # item and compiled, because jsonschema alone takes ~20 s on a dump of 300k items.
    @ns.expect(DUMP, validate=False)
    @ns.response(202, "stored; a job ingests it and makes it the active dataset", accepted)
    @ns.response(400, "the dump is not valid: every bad field is named; nothing was stored")
    @ns.response(413, "the dump is larger than MAX_DUMP_BYTES")
    def post(self):
        """Receive a full marketplace dump. It replaces the active dataset in one switch once
        ingested; the same dump again joins the existing snapshot instead of ingesting twice."""
        return accepted_response(dumps.receive_dump(_parsed_body()))


def _parsed_body() -> dict:
    """The JSON body, read here (socket I/O) and parsed off the worker's event loop (see app.offload)."""
    request.get_data(cache=True)
    return cpu_bound(without_gc, request.get_json)
