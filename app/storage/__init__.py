"""MongoDB: the connection and the documents stored there."""
from app.storage.connection import database, init_app

__all__ = ["database", "init_app"]
