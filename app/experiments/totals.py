"""What one variant of an experiment has collected so far: counts, and the per-person sums
that the delta method needs.

The person (a logged-in user or an anonymous browser) is the unit of assignment, so people
are independent of each other but one person's panels are not: someone who likes the panel
clicks on many of them. Intervals for per-panel rates therefore come from per-person sums
(Σ panels_i², Σ panels_i·clicks_i, ...) rather than from panel counts alone. The database
keeps per-person counts and adds these sums up per variant with one $group.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import numpy as np


@dataclass
class VariantTotals:
    """Sums over the people of one variant (counts are integers; a $sum may hand back doubles)."""

    units: int = 0  # people assigned who saw at least one linked panel
    panels: int = 0  # panels served that can be linked to later clicks
    clicks: int = 0  # clicks in the panel
    page_clicks: int = 0  # every click leaving the page that showed the panel, panel clicks included
    orders: int = 0  # orders that followed a panel click
    clicked_units: int = 0  # people with at least one panel click
    ordering_units: int = 0  # people with at least one order
    # Per-person products, summed over people (delta-method intervals of the ratios).
    panels_sq: int = 0  # Σ panels_i²
    clicks_sq: int = 0  # Σ clicks_i²
    panels_clicks: int = 0  # Σ panels_i · clicks_i
    orders_sq: int = 0  # Σ orders_i²
    panels_orders: int = 0  # Σ panels_i · orders_i
    page_clicks_sq: int = 0  # Σ page_clicks_i²
    page_clicks_clicks: int = 0  # Σ page_clicks_i · clicks_i

    @classmethod
    def from_units(cls, panels: np.ndarray, clicks: np.ndarray, orders: np.ndarray,
                   page_clicks: np.ndarray) -> VariantTotals:
        """Totals from per-person counts, (n,) arrays each; people with no panel are not units
        (they never saw what is being tested) and are left out."""
        panels, clicks, orders, page_clicks = (np.asarray(a, dtype=np.int64)
                                               for a in (panels, clicks, orders, page_clicks))
        if not panels.shape == clicks.shape == orders.shape == page_clicks.shape:
            raise ValueError("per-person arrays must have one length")
        seen = panels > 0
        panels, clicks, orders, page_clicks = panels[seen], clicks[seen], orders[seen], page_clicks[seen]
        return cls(
            units=int(seen.sum()),
            panels=int(panels.sum()),
            clicks=int(clicks.sum()),
            page_clicks=int(page_clicks.sum()),
            orders=int(orders.sum()),
            clicked_units=int((clicks > 0).sum()),
            ordering_units=int((orders > 0).sum()),
            panels_sq=int(panels @ panels),
            clicks_sq=int(clicks @ clicks),
            panels_clicks=int(panels @ clicks),
            orders_sq=int(orders @ orders),
            panels_orders=int(panels @ orders),
            page_clicks_sq=int(page_clicks @ page_clicks),
            page_clicks_clicks=int(page_clicks @ clicks),
        )

    def to_dict(self) -> dict[str, int | float]:
        """A plain dict, ready for JSON or a database document."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> VariantTotals:
        """Back from a dict: unknown keys are ignored and missing ones are 0, so totals stored
        before a field was added still load."""
        return cls(**{f.name: plain_number(data.get(f.name) or 0) for f in fields(cls)})


def plain_number(value) -> int | float:
    """An int when the value is whole (a $sum of ints may come back as a double), else a float."""
    value = float(value)
    return int(value) if value.is_integer() else value
