"""Weights files: written once per host, checked against their digest, mapped read-only and
shared by the processes that map them."""
import hashlib
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from safetensors.numpy import save

from app.storage import weights_files

ARRAYS = {"user_gmf": np.arange(12, dtype=np.float32).reshape(4, 3), "ids": np.array([3, 1, 2], np.int64),
          "flags": np.array([True, False]), "bias": np.array([0.5], np.float64), "odd": np.arange(3, dtype=np.int8)}


def blob_of(arrays) -> tuple[bytes, str]:
    blob = save(arrays, metadata={"engine": "NCF"})
    return blob, hashlib.sha256(blob).hexdigest()


def test_stored_weights_are_mapped_read_only_and_found_again(tmp_path):
    blob, digest = blob_of(ARRAYS)
    assert weights_files.cached_arrays(tmp_path, digest) is None
    for arrays in (weights_files.stored_arrays(tmp_path, digest, blob), weights_files.cached_arrays(tmp_path, digest)):
        assert set(arrays) == set(ARRAYS)
        for name, array in arrays.items():
            np.testing.assert_array_equal(array, ARRAYS[name])
            assert array.dtype == ARRAYS[name].dtype and not array.flags.writeable and not array.flags.owndata
    assert [path.name for path in tmp_path.iterdir()] == [f"{digest}.safetensors"]  # no temporary left


def test_bytes_that_do_not_match_their_digest_are_never_written(tmp_path):
    blob, digest = blob_of(ARRAYS)
    with pytest.raises(ValueError, match="do not match"):
        weights_files.stored_arrays(tmp_path, digest, blob + b" ")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", [lambda b: b[:-4], lambda b: b[:-1] + bytes([b[-1] ^ 1]), lambda b: b""])
def test_a_damaged_file_is_not_mapped_and_is_written_again(tmp_path, damage):
    blob, digest = blob_of(ARRAYS)
    (tmp_path / f"{digest}.safetensors").write_bytes(damage(blob))
    assert weights_files.cached_arrays(tmp_path, digest) is None
    arrays = weights_files.stored_arrays(tmp_path, digest, blob)
    np.testing.assert_array_equal(arrays["user_gmf"], ARRAYS["user_gmf"])
    assert weights_files.cached_arrays(tmp_path, digest) is not None


def test_files_no_process_mapped_lately_are_deleted_when_another_is_written(tmp_path):
    kept_blob, kept = blob_of({"a": np.zeros(3, np.float32)})
    stale_blob, stale = blob_of({"b": np.ones(3, np.float32)})
    weights_files.stored_arrays(tmp_path, kept, kept_blob)
    still_mapped = weights_files.stored_arrays(tmp_path, stale, stale_blob)
    week_ago = time.time() - 8 * 24 * 3600
    for digest in (kept, stale):
        os.utime(tmp_path / f"{digest}.safetensors", (week_ago, week_ago))
    assert weights_files.cached_arrays(tmp_path, kept) is not None  # mapped now: kept
    new_blob, new = blob_of(ARRAYS)
    weights_files.stored_arrays(tmp_path, new, new_blob, keep_seconds=7 * 24 * 3600)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{d}.safetensors" for d in (kept, new))
    np.testing.assert_array_equal(still_mapped["b"], np.ones(3))  # a process mapping a deleted file keeps it


MAPPER = """
import sys, time
from app.storage import weights_files
arrays = weights_files.cached_arrays(sys.argv[1], sys.argv[2])
total = float(arrays["big"].sum())  # every page touched
print("mapped", flush=True)
sys.stdin.readline()
rss = pss = 0
with open("/proc/self/smaps") as smaps:
    inside = False
    for line in smaps:
        if "-" in line.split()[0] and not line.split()[0].endswith(":"):
            inside = sys.argv[2] in line
        elif inside and line.startswith("Rss:"):
            rss += int(line.split()[1])
        elif inside and line.startswith("Pss:"):
            pss += int(line.split()[1])
print(rss, pss, total, flush=True)
"""


def test_processes_that_map_the_same_weights_share_their_pages(tmp_path):
    blob, digest = blob_of({"big": np.ones(8 * 2**20, np.float32)})  # 32 MiB
    weights_files.stored_arrays(tmp_path, digest, blob)
    mappers = [subprocess.Popen([sys.executable, "-c", MAPPER, str(tmp_path), digest], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for mapper in mappers:
            assert mapper.stdout.readline().strip() == "mapped"
        for mapper in mappers:
            mapper.stdin.write("\n")
            mapper.stdin.flush()
        figures = [mapper.stdout.readline().split() for mapper in mappers]
    finally:
        for mapper in mappers:
            mapper.kill()
            mapper.wait()
    for rss, pss, total in figures:
        assert int(rss) >= 30 * 1024 and float(total) == 8 * 2**20  # every page resident, in kB
        assert int(pss) <= 0.6 * int(rss)  # each process is charged half of the pages it shares
