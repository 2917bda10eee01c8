"""MongoDB: the connection and the documents stored there."""
from __future__ import annotations

import importlib
import pkgutil

from mongoengine import Document

from app.storage.connection import database, init_app

__all__ = ["all_documents", "database", "init_app"]


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
