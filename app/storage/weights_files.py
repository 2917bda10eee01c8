"""Model weights as local files that every process on a host maps read-only, instead of copies.

An API worker used to read a version's safetensors bytes from GridFS and decode them into
arrays of its own, so N workers held N copies (an NCF of 1M users and 100k services is 839
MiB). Now the first process that needs a version writes its bytes, checked against the
digest taken when it was stored, to `<directory>/<sha256>.safetensors` (under a temporary
name, then renamed, so no reader ever sees half a file), and every process maps that file:
its pages are the operating system's page cache, shared by every process that maps them,
and read from disk as they are touched. The name is the digest, so a file never changes
under a reader; a process that maps it checks the digest once more, and a file that does
not match is written again from GridFS.

Files not mapped for `keep_seconds` are deleted when another is written. A process that
still maps a deleted file keeps its pages (POSIX unlink semantics); the next one to need
that version writes it again.
"""
from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
import tempfile
import time
from pathlib import Path

import numpy as np

SUFFIX = ".safetensors"
# safetensors' dtype names → numpy (the ones numpy has)
DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
          "I16": np.int16, "I8": np.int8, "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8,
          "BOOL": np.bool_}
HASH_CHUNK = 16 * 2**20


def cached_arrays(directory: Path, digest: str) -> dict[str, np.ndarray] | None:
    """The arrays of the safetensors file whose sha256 is `digest`, mapped read-only from
    `directory`; None when it has no such file, or one that does not match (`stored_arrays` then)."""
    path = Path(directory) / f"{digest}{SUFFIX}"
    try:
        mapped = _map(path)
    except (FileNotFoundError, ValueError):  # missing, or empty (mmap refuses a file of 0 bytes)
        return None
    if _sha256(mapped) != digest:
        mapped.close()
        return None
    os.utime(path)  # mapped now: not one to delete
    return _arrays(mapped)


def stored_arrays(directory: Path, digest: str, blob: bytes,
                  keep_seconds: float = 7 * 24 * 3600) -> dict[str, np.ndarray]:
    """`blob`, checked against `digest`, written to `directory` and mapped as `cached_arrays` maps it;
    files no process mapped for `keep_seconds` are deleted meanwhile."""
    if hashlib.sha256(blob).hexdigest() != digest:
        raise ValueError(f"weights {digest[:12]}: the stored bytes do not match their digest")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{digest}{SUFFIX}"
    _write(path, blob)
    _delete_unused(directory, keep_seconds, path)
    return _arrays(_map(path))


def _map(path: Path) -> mmap.mmap:
    with open(path, "rb") as file:
        return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)  # the map outlives the descriptor


def _sha256(mapped: mmap.mmap) -> str:
    digest = hashlib.sha256()
    for start in range(0, len(mapped), HASH_CHUNK):
        digest.update(mapped[start:start + HASH_CHUNK])
    return digest.hexdigest()


def _arrays(mapped: mmap.mmap) -> dict[str, np.ndarray]:
    """Read-only arrays over the map, laid out as the safetensors header says: 8 bytes of header
    length (little-endian), the JSON header, then each tensor at its data offsets."""
    (length,) = struct.unpack("<Q", mapped[:8])
    header = json.loads(mapped[8:8 + length])
    header.pop("__metadata__", None)
    start_of_data = 8 + length
    arrays = {}
    for name, tensor in header.items():
        dtype = np.dtype(DTYPES[tensor["dtype"]])
        begin, end = tensor["data_offsets"]
        arrays[name] = np.frombuffer(mapped, dtype=dtype, count=(end - begin) // dtype.itemsize,
                                     offset=start_of_data + begin).reshape(tensor["shape"])
    return arrays


def _write(path: Path, blob: bytes) -> None:
    """The bytes at `path`, all or nothing: written under another name, flushed, then renamed."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".writing-", suffix=SUFFIX)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(blob)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _delete_unused(directory: Path, keep_seconds: float, written: Path) -> None:
    cutoff = time.time() - keep_seconds
    for path in directory.glob(f"*{SUFFIX}"):
        try:
            if path != written and path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:  # another process deleted it first
            pass
