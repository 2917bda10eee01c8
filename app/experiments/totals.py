"""What one variant of an experiment has collected so far: counts, and the per-person sums
that the delta method needs.

The person (a logged-in user or an anonymous browser) is the unit of assignment, so people
are independent of each other but one person's panels are not: someone who likes the panel
clicks on many of them. Intervals for per-panel rates therefore come from per-person sums
(Σ panels_i², Σ panels_i·clicks_i, ...) rather than from panel counts alone. The database
keeps per-person counts and adds these sums up per variant with one $group.

A shadow variant also collects off-policy sums: over the panels whose served engine drew at
random and logged each shown service's chance of being shown (`logged_*`), a click or an
order on a service the shadow would have shown too counts 1 / that chance. See
app/experiments/statistics.py (`off_policy`) for what they estimate and when.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

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
    # Off-policy sums, shadow variants only: over the panels served with logged chances.
    logged_units: int = 0  # people with at least one such panel
    logged_panels: int = 0
    weighted_clicks: float = 0  # Σ 1/chance over clicks on services the shadow would show too
    weighted_orders: float = 0  # the same over the orders that followed those clicks
    weighted_shown: float = 0  # Σ 1/chance over the shown services the shadow would show too
    shadow_shown: int = 0  # services the shadow would have shown in those panels
    logged_panels_sq: int = 0  # Σ logged_panels_i²
    weighted_clicks_sq: float = 0  # Σ weighted_clicks_i²
    logged_panels_weighted_clicks: float = 0  # Σ logged_panels_i · weighted_clicks_i
    weighted_orders_sq: float = 0  # Σ weighted_orders_i²
    logged_panels_weighted_orders: float = 0  # Σ logged_panels_i · weighted_orders_i

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

    def with_off_policy(self, logged_panels: np.ndarray, weighted_clicks: np.ndarray, weighted_orders: np.ndarray,
                        weighted_shown: float, shadow_shown: int) -> VariantTotals:
        """These totals with the off-policy sums from per-person arrays ((n,) each, people with no
        logged panel left out) and the two panel-level sums."""
        panels = np.asarray(logged_panels, dtype=np.int64)
        clicks, orders = (np.asarray(a, dtype=np.float64) for a in (weighted_clicks, weighted_orders))
        if not panels.shape == clicks.shape == orders.shape:
            raise ValueError("per-person arrays must have one length")
        seen = panels > 0
        panels, clicks, orders = panels[seen], clicks[seen], orders[seen]
        return replace(
            self, logged_units=int(seen.sum()), logged_panels=int(panels.sum()),
            weighted_clicks=float(clicks.sum()), weighted_orders=float(orders.sum()),
            weighted_shown=float(weighted_shown), shadow_shown=int(shadow_shown),
            logged_panels_sq=int(panels @ panels), weighted_clicks_sq=float(clicks @ clicks),
            logged_panels_weighted_clicks=float(panels @ clicks), weighted_orders_sq=float(orders @ orders),
            logged_panels_weighted_orders=float(panels @ orders),
        )

    def to_dict(self) -> dict[str, int | float]:
        """A plain dict, ready for JSON or a database document."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> VariantTotals:
        """Back from a dict: unknown keys are ignored and missing ones are 0, so totals stored
        before a field was added still load."""
        return cls(**{f.name: plain_number(data.get(f.name) or 0) for f in fields(cls)})


def plain_number(value) -> int | float:
    """An int when the value is whole (a $sum of ints may come back as a double), else a float."""
    value = float(value)
    return int(value) if value.is_integer() else value
