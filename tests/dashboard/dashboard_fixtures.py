"""A served marketplace with what every dashboard page shows: an active snapshot with its
problems, two Popularity and Session versions (the older one retired, so the dashboard
can switch back to it), a model plot, and finished jobs."""
from __future__ import annotations

import io
import uuid

from app import model_registry as registry
from app.pipelines.interaction_models import fit_interaction_models
from app.storage.jobs import Job, utcnow
from tests.recommendations.serving_fixtures import serve_marketplace

SAME_ORIGIN = {"Origin": "http://localhost"}  # the test client's host


def plot_png() -> bytes:
    """A small real PNG, as the trainers store (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(3, 2), dpi=60)
    axes.plot([0, 1, 2], [0.9, 0.5, 0.4])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    pyplot.close(figure)
    return buffer.getvalue()


def dashboard_data(app) -> dict:
    """Fill the test database; returns {"retired": id of the retired Popularity version, "active": ...}."""
    dump = serve_marketplace(app)
    with app.app_context():
        first = fit_interaction_models()  # serve_marketplace fitted once already: this is the second
        active = registry.get_version(first["Popularity"])
        older = next(v for v in registry.list_versions("Popularity") if v.id != active.id)
        registry.add_plot(active, "popularity", plot_png())
        for state, step, percent in (("SUCCESS", None, 100), ("FAILURE", "train", 40)):
            Job(id=str(uuid.uuid4()), name="marketrec.training.ncf", state=state, step=step, percent=percent,
                error="RuntimeError: out of patience" if state == "FAILURE" else None,
                result={"status": "done"} if state == "SUCCESS" else {}, created_at=utcnow(),
                finished_at=utcnow()).save(force_insert=True)
        store_traffic()
        app.extensions["serving_state"].rebuild_now()
    return {"dump": dump, "active": first["Popularity"], "retired": str(older.id)}


def store_results(experiment_id: str, people: int = 600, seed: int = 3, shadow: str | None = None) -> str:
    """Per-person counts of an A/B experiment as the served-outcomes fold leaves them (B's people
    click more often than the control A's), summarised by the fold's own function; with
    `shadow`, that variant's replay and off-policy sums behind panels served at random too."""
    import numpy as np

    from app.pipelines.served_outcomes import summarise
    from app.storage.experiments import UnitOutcomes

    rng = np.random.default_rng(seed)
    for variant, click_chance in (("A", 0.04), ("B", 0.08)):
        for _ in range(people):
            panels = 1 + int(rng.poisson(2))
            clicks = int(rng.binomial(panels, click_chance))
            orders = int(rng.binomial(clicks, 0.3))
            unit = f"visitor:{uuid.UUID(int=int(rng.integers(2**63)))}"
            UnitOutcomes(id=f"{experiment_id}|{variant}|{unit}", experiment=experiment_id, variant=variant,
                         unit=unit, panels=panels, clicks=clicks, page_clicks=clicks + int(rng.poisson(1)),
                         orders=orders, last_slice=utcnow()).save(force_insert=True)
            if shadow:  # every panel drew 3 of 30 services, each with chance 0.1; a tenth of clicks agreed
                agreed = int(rng.binomial(clicks, 0.1))
                UnitOutcomes(id=f"{experiment_id}|{shadow}|{unit}", experiment=experiment_id, variant=shadow,
                             unit=unit, panels=panels, clicks=agreed, page_clicks=clicks, orders=0,
                             logged_panels=panels, weighted_clicks=agreed / 0.1, weighted_orders=0.0,
                             weighted_shown=3.0 * panels, shadow_shown=3 * panels,
                             last_slice=utcnow()).save(force_insert=True)
    summarise(experiment_id)
    return experiment_id


def store_traffic(hours: int = 36) -> None:
    """Hourly counts as the served-outcomes fold leaves them: Popularity and Session each hour,
    Session with a better hit rate, one hour without any panel click."""
    from datetime import timedelta

    from app.storage.served_outcomes import TrafficHour

    now = utcnow().replace(minute=0, second=0, microsecond=0)
    for back in range(1, hours + 1):
        hour = now - timedelta(hours=back)
        for engine, rate, share in (("Popularity", 0.2, 1.0), ("Session", 0.3, 0.6)):
            panels = round(share * (40 + (back * 7) % 25))
            page_clicks = 0 if back == 5 else panels // 2
            TrafficHour(id=f"{hour.isoformat()}|{engine}", hour=hour, engine=engine, panels=panels,
                        linked_panels=panels - 2, clicks=round(page_clicks * rate), page_clicks=page_clicks,
                        orders=back % 3, last_slice=hour).save(force_insert=True)
