"""The model registry: register a trained model's arrays, load them back, activate
a version (promote or roll back). Weights are safetensors in GridFS, never pickle."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import gridfs
import numpy as np
from bson import ObjectId
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

from app.errors import InvalidInput, NotFound
from app.storage import database
from app.storage.jobs import utcnow
from app.storage.models import ModelVersion, RegistryState
from app.version import __version__

BUCKET = "model_files"


class ModelRejected(InvalidInput):
    """A candidate whose validation metric is worse than the active version's."""


def _files() -> gridfs.GridFS:
    return gridfs.GridFS(database(), collection=BUCKET)


def register(
    engine: str,
    arrays: Mapping[str, np.ndarray],
    params: dict,
    *,
    dataset_id: str | None,
    config: dict | None = None,
    metrics: dict | None = None,
    job_id: str | None = None,
    training_seconds: float | None = None,
) -> ModelVersion:
    """Store a model's arrays and describe it as a candidate version."""
    metadata = {"engine": engine, "params": json.dumps(params), "config": json.dumps(config or {})}
    blob = save_safetensors({name: np.ascontiguousarray(a) for name, a in arrays.items()}, metadata=metadata)
    file_id = _files().put(blob, filename=f"{engine}.safetensors", engine=engine)
    return ModelVersion(
        engine=engine,
        dataset_id=dataset_id,
        config=config or {},
        params=params,
        metrics=metrics or {},
        weights_file_id=file_id,
        weights_sha256=hashlib.sha256(blob).hexdigest(),
        weights_bytes=len(blob),
        code_version=__version__,
        job_id=job_id,
        training_seconds=training_seconds,
    ).save()


def load_arrays(version: ModelVersion) -> dict[str, np.ndarray]:
    """The arrays of a version, checked against the digest taken when it was stored."""
    return arrays_of(version, weights_blob(version))


def weights_blob(version: ModelVersion) -> bytes:
    """The stored safetensors bytes of a version, as read (the I/O half of `load_arrays`)."""
    return _files().get(version.weights_file_id).read()


def arrays_of(version: ModelVersion, blob: bytes) -> dict[str, np.ndarray]:
    """The arrays in a version's weights blob, checked against its digest (CPU only, no I/O)."""
    if hashlib.sha256(blob).hexdigest() != version.weights_sha256:
        raise ValueError(f"model version {version.id}: stored weights do not match their digest")
    return load_safetensors(blob)


def get_version(version_id: str) -> ModelVersion:
    version = ModelVersion.objects(id=version_id).first() if ObjectId.is_valid(version_id) else None
    if version is None:
        raise NotFound(f"no model version {version_id}", {"model_id": "unknown model version"})
    return version


def active_version(engine: str) -> ModelVersion | None:
    return ModelVersion.objects(engine=engine, status="active").order_by("-activated_at").first()


def latest_version(engine: str, dataset_id: str) -> ModelVersion | None:
    """The newest version of `engine` trained on snapshot `dataset_id`, whatever its status."""
    return ModelVersion.objects(engine=engine, dataset_id=dataset_id).order_by("-created_at").first()


def activate(version: ModelVersion, *, metric: str | None = None, higher_is_better: bool = True) -> ModelVersion:
    """Make `version` the one served for its engine.

    With `metric`, refuse (ModelRejected) when the version is worse on it than the
    active one; without, activate unconditionally (an operator's promote or roll back).
    The new version becomes active before the old one is retired, so readers always
    find an active version.
    """
    current = active_version(version.engine)
    if metric and current is not None and current.id != version.id:
        new, old = version.metrics.get(metric), current.metrics.get(metric)
        if new is None or (old is not None and (new < old if higher_is_better else new > old)):
            version.update(status="rejected")
            raise ModelRejected(
                f"{version.engine} {version.id}: {metric} {new} is worse than the active version's {old}",
                {metric: f"{new} < active {old}"},
            )
    now = utcnow()
    version.update(status="active", activated_at=now)
    ModelVersion.objects(engine=version.engine, status="active", id__ne=version.id).update(
        status="retired", retired_at=now
    )
    RegistryState.objects(id="models").update_one(inc__stamp=1, upsert=True)
    version.reload()
    return version


def registry_stamp() -> int:
    """Changes whenever any version is activated; cheap to poll."""
    state = RegistryState.objects(id="models").first()
    return state.stamp if state else 0


def add_plot(version: ModelVersion, name: str, png: bytes) -> None:
    """Keep a PNG plot (training curve, metrics) beside the version."""
    file_id = _files().put(png, filename=f"{name}.png", content_type="image/png", version=str(version.id))
    version.update(**{f"set__plots__{name}": file_id})
    version.reload()


def plot_png(version: ModelVersion, name: str) -> bytes:
    file_id = version.plots.get(name)
    if file_id is None:
        raise NotFound(f"model version {version.id} has no plot {name}", {"name": "unknown plot"})
    return _files().get(file_id).read()


def describe(version: ModelVersion) -> dict:
    """A version as the API shows it."""
    return {
        "id": str(version.id), "engine": version.engine, "status": version.status,
        "dataset_id": version.dataset_id, "config": version.config, "metrics": version.metrics,
        "code_version": version.code_version, "job_id": version.job_id,
        "training_seconds": version.training_seconds, "weights_bytes": version.weights_bytes,
        "stale": bool(version.stale), "stale_reason": version.stale_reason,
        "plots": sorted(version.plots), "created_at": version.created_at,
        "activated_at": version.activated_at, "retired_at": version.retired_at,
    }


def list_versions(engine: str | None = None, limit: int = 100) -> list[ModelVersion]:
    query = ModelVersion.objects(engine=engine) if engine else ModelVersion.objects
    return list(query.order_by("-created_at").limit(limit))


def prune_retired(engine: str, keep: int) -> int:
    """Delete all but the `keep` most recent retired versions of an engine, with their files."""
    retired = ModelVersion.objects(engine=engine, status__in=("retired", "rejected")).order_by("-created_at")
    doomed = list(retired.skip(keep))
    for version in doomed:
        for file_id in [version.weights_file_id, *version.plots.values()]:
            if file_id is not None:
                _files().delete(file_id)
        version.delete()
    return len(doomed)
