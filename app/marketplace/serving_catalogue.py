"""What an API worker loads of a snapshot to serve it, written once by the ingesting worker.

Each API worker builds its serving state from the snapshot's recommendable services, its
category names and its users' facets. Read from the snapshot's collections, that is one
document each, and SecantusDB spends about 130 µs on each service document while every
other client waits: 9,066 services of MovieLens latest-small took 1.2 s of the database's
time, in every worker at every switch, and the first requests after a new install waited
for it (3.8 s in the latest-small replay); a million users would take minutes.

So ingestion writes them as one gzipped JSON file in GridFS (bucket `serving_catalogues`,
its id on the snapshot): loading it is one read of the file's chunks, and decoding it is
the worker's own CPU. Snapshots ingested before this have no file; their readers fall back
to the collections, read in bounded windows (app/marketplace/catalogue.py). Pruning a
snapshot's documents deletes its file too (the raw dump stays, for lineage).
"""
from __future__ import annotations

import gzip
import json
import logging

from bson import ObjectId
from gridfs import GridFSBucket
from gridfs.errors import NoFile

from app.offload import without_gc
from app.storage.connection import database
from app.storage.marketplace import to_document
from app.storage.snapshots import DatasetSnapshot

log = logging.getLogger(__name__)

BUCKET = "serving_catalogues"
FORMAT = 1  # bumped when the layout changes: a file of another format is not read
USER_FIELDS = ("categories", "scientific_domains", "accessed_services")


def _bucket() -> GridFSBucket:
    return GridFSBucket(database(), bucket_name=BUCKET)


def build(dump: dict, snapshot_id: str) -> dict:
    """The catalogue of a dump: recommendable services as stored (without bookkeeping), ordered by
    id; category names by id; each user's facets as columns (ids, then per field the lengths of
    the users' lists and their concatenated values, in the same order)."""
    services = []
    for item in sorted(dump["services"], key=lambda service: service["id"]):
        document = to_document("services", item, snapshot_id)
        if document["recommendable"]:
            document.pop("snapshot_id")
            services.append(document)
    return {"format": FORMAT, "snapshot_id": snapshot_id, "services": services,
            "categories": {str(c["id"]): c.get("name") or "" for c in dump["categories"]},
            "users": user_columns(dump["users"], "id")}


def user_columns(users, id_field: str) -> dict:
    """Users (dump items, or stored documents with `id_field` "marketplace_id") as columns: their
    ids, then per USER_FIELDS the lengths of their lists and the lists' values concatenated, in
    the users' order."""
    columns = {"ids": [], **{name: {"lengths": [], "values": []} for name in USER_FIELDS}}
    for user in users:
        columns["ids"].append(user[id_field])
        for name in USER_FIELDS:
            values = user.get(name) or ()
            columns[name]["lengths"].append(len(values))
            columns[name]["values"].extend(values)
    return columns


def write(snapshot_id: str, dump: dict) -> ObjectId:
    """Store the dump's catalogue and name it on the snapshot (replacing an earlier file of it)."""
    data = gzip.compress(json.dumps(build(dump, snapshot_id), separators=(",", ":")).encode(), compresslevel=5)
    file_id = _bucket().upload_from_stream(f"{snapshot_id}.catalogue.json.gz", data,
                                           metadata={"snapshot_id": snapshot_id, "format": FORMAT})
    previous = DatasetSnapshot.objects(id=snapshot_id).only("serving_file_id").first()
    DatasetSnapshot.objects(id=snapshot_id).update_one(set__serving_file_id=file_id)
    if previous is not None and previous.serving_file_id is not None:
        _delete_file(previous.serving_file_id)
    return file_id


def load(snapshot_id: str) -> dict | None:
    """The snapshot's catalogue, or None when it has none (ingested before catalogues were written,
    or pruned); the caller then reads the collections."""
    raw = read_raw(snapshot_id)
    return decode(raw, snapshot_id) if raw is not None else None


def read_raw(snapshot_id: str) -> bytes | None:
    """The stored file's bytes (I/O only: under gevent, decode them off the hub with `decode`)."""
    snapshot = DatasetSnapshot.objects(id=snapshot_id).only("serving_file_id").first()
    if snapshot is None or snapshot.serving_file_id is None:
        return None
    try:
        return _bucket().open_download_stream(snapshot.serving_file_id).read()
    except NoFile:
        return None


def decode(raw: bytes, snapshot_id: str) -> dict | None:
    """The catalogue in a file's bytes; None for a file of another format."""
    catalogue = without_gc(lambda: json.loads(gzip.decompress(raw)))
    if catalogue.get("format") != FORMAT or catalogue.get("snapshot_id") != snapshot_id:
        log.warning("serving catalogue of another format or snapshot ignored", extra={"snapshot_id": snapshot_id})
        return None
    catalogue["categories"] = {int(key): name for key, name in catalogue["categories"].items()}
    return catalogue


def delete(snapshot_id: str) -> None:
    """Delete the snapshot's catalogue file, if it has one."""
    snapshot = DatasetSnapshot.objects(id=snapshot_id).only("serving_file_id").first()
    if snapshot is not None and snapshot.serving_file_id is not None:
        DatasetSnapshot.objects(id=snapshot_id).update_one(unset__serving_file_id=True)
        _delete_file(snapshot.serving_file_id)


def _delete_file(file_id: ObjectId) -> None:
    try:
        _bucket().delete(file_id)
    except NoFile:
        pass
