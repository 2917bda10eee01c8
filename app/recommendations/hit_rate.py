"""Hit rate of served panels: of the clicks that left a page showing a panel, the
share that were clicks in the panel, per engine and panel."""
from __future__ import annotations

from collections import defaultdict
from itertools import islice

from app.storage import database

BATCH = 1000


def _batches(iterable, size):
    iterator = iter(iterable)
    while batch := list(islice(iterator, size)):
        yield batch


def hit_rate(engine: str | None = None, panel: str | None = None) -> list[dict]:
    """Rows {engine, panel, recommendations, clicks, panel_clicks, hit_rate}, sorted."""
    query = {"visit_id": {"$ne": None}}
    if engine:
        query["engine"] = engine
    if panel:
        query["panel_id"] = {"$in": [panel, None, "", "service"]} if panel == "v1" else panel
    shown = {}  # visit id → (engine, panel)
    for record in database()["recommendations"].find(query, {"visit_id": 1, "engine": 1, "panel_id": 1}):
        panel_id = record.get("panel_id") if record.get("panel_id") in ("v1", "v2") else "v1"
        shown[record["visit_id"]] = (record["engine"], panel_id)
    totals = defaultdict(lambda: {"recommendations": 0, "clicks": 0, "panel_clicks": 0})
    for key in shown.values():
        totals[key]["recommendations"] += 1
    for visits in _batches(shown, BATCH):
        pipeline = [
            {"$match": {"source.visit_id": {"$in": visits}}},
            {"$group": {
                "_id": "$source.visit_id",
                "clicks": {"$sum": 1},
                "panel_clicks": {"$sum": {"$cond": [{"$eq": ["$source.root.type", "recommendation_panel"]}, 1, 0]}},
            }},
        ]
        for group in database()["user_actions"].aggregate(pipeline):
            row = totals[shown[group["_id"]]]
            row["clicks"] += group["clicks"]
            row["panel_clicks"] += group["panel_clicks"]
    return [
        {"engine": key[0], "panel": key[1], **row,
         "hit_rate": round(row["panel_clicks"] / row["clicks"], 4) if row["clicks"] else None}
        for key, row in sorted(totals.items())
    ]
