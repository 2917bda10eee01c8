"""MongoDB: the connection and the documents stored there."""
from __future__ import annotations

import importlib
import pkgutil

from mongoengine import Document

from app.storage.connection import database, init_app

__all__ = ["all_documents", "database", "init_app", "open_collections"]


def all_documents() -> list[type[Document]]:
    """Every concrete document class of app.storage (for index creation, statistics)."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    found, todo = [], list(Document.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith(__name__) and not cls._meta.get("abstract"):
            found.append(cls)
    return sorted(found, key=lambda cls: cls._get_collection_name())


def open_collections() -> None:
    """Open every document's collection in this process, before it serves requests.

    mongoengine checks a document's indexes the first time a process uses its collection:
    one createIndexes command per declared index, answered in tens of milliseconds each by
    SecantusDB even when the index exists. Left to the request path, a new API worker's
    first panel with a history read took 130 to 380 ms on `make run`. The indexes
    themselves are created at deployment (`flask db ensure-indexes`)."""
    for document in all_documents():
        document._get_collection()
