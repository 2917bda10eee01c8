"""Domain errors, named. The API maps each to an HTTP status in one place
(`app/api/errors.py`); domain code never builds HTTP responses itself."""


class MarketrecError(Exception):
    """Base of every error the service raises on purpose."""

    status = 500

    def __init__(self, message: str, errors: dict | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class ConfigurationError(MarketrecError):
    """The settings cannot work (e.g. production without its secrets)."""


class InvalidInput(MarketrecError):
    """A request that passed the schema but breaks a rule the schema cannot express."""

    status = 400


class DataRejected(InvalidInput):
    """The data cannot train a useful model (too few users, services or interactions)."""


class NotFound(MarketrecError):
    status = 404


class SnapshotNotFound(NotFound):
    """No dataset snapshot with this id: never received, or deleted since."""

    def __init__(self, snapshot_id: str):
        super().__init__(f"no dataset snapshot {snapshot_id}", {"snapshot_id": "unknown dataset snapshot"})
        self.snapshot_id = snapshot_id


class JobNotFound(NotFound):
    def __init__(self, job_id: str):
        super().__init__(f"no job with id {job_id}", {"job_id": "unknown job"})


class ServiceNotFound(NotFound):
    """No recommendable service with this id in the snapshot served."""

    def __init__(self, service_id: int):
        super().__init__(f"no recommendable service {service_id} in the catalogue served",
                         {"service_id": "unknown service"})


class ServiceUnavailable(MarketrecError):
    """A dependency (database, broker) does not answer; the client may retry."""

    status = 503


class BrokerUnavailable(ServiceUnavailable):
    def __init__(self, reason: str):
        super().__init__("the task queue is unavailable, retry later", {"broker": reason})


class Conflict(MarketrecError):
    """The request is valid but clashes with the service's state (e.g. a scope already tested)."""

    status = 409


class NothingServed(ServiceUnavailable):
    """No dataset snapshot is served yet (before the first dump is ingested): retry later."""

    def __init__(self):
        super().__init__("no catalogue is served yet, retry once a dump is ingested",
                         {"snapshot": "no dataset snapshot is active"})
