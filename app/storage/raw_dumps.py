"""The dumps as received: canonical JSON, gzipped, in a GridFS bucket.

Ingestion writes a snapshot's documents from here, training reads the dump it was
made from (lineage), and the file stays while its snapshot is kept."""
from __future__ import annotations

import gzip
import json

from gridfs import GridFSBucket

from app.storage.connection import database
from app.storage.snapshots import get_snapshot

DUMP_BUCKET = "dumps"


def bucket() -> GridFSBucket:
    return GridFSBucket(database(), bucket_name=DUMP_BUCKET)


def raw_dump(snapshot_id: str) -> dict:
    """The dump a snapshot was made from, as received (its contract keys)."""
    snapshot = get_snapshot(snapshot_id)
    return json.loads(gzip.decompress(bucket().open_download_stream(snapshot.dump_file_id).read()))
