"""Fetch the Open Bandit Dataset small sample (ZOZOTOWN, 10,000 rounds per policy and campaign).

The sample ships inside the obp 0.4.1 wheel on PyPI; only its CSVs are unpacked
(obp itself is not installed: it pins an old torch). Result:
DEST/obd/{random,bts}/{all,men,women}/{all,men,women}.csv and item_context.csv.
Cached: nothing is downloaded when DEST/obd exists. Never committed (var/ is ignored).

    python -m app.sample_data.open_bandit_files var/data/obd
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PREFIX = "obp/dataset/"


def fetch_open_bandit_sample(destination: str | Path) -> Path:
    """The directory DEST/obd holding the sample's CSVs, downloading them when missing."""
    destination = Path(destination)
    target = destination / "obd"
    if target.is_dir() and any(target.rglob("*.csv")):
        return target
    with tempfile.TemporaryDirectory() as download:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", download,
                        "obp==0.4.1"], check=True, capture_output=True, timeout=300)
        wheel = next(Path(download).glob("obp-0.4.1-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if name.startswith(PREFIX + "obd/") and name.endswith(".csv"):
                    out = destination / name[len(PREFIX):]
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(archive.read(name))
    return target


if __name__ == "__main__":
    print(fetch_open_bandit_sample(sys.argv[1] if len(sys.argv) > 1 else "var/data/obd"))
