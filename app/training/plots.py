"""PNG plots kept beside each model version: training curves and metrics against baselines."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on servers and workers
import matplotlib.pyplot as plt  # noqa: E402

SHOWN_METRICS = ("hr@10_sampled", "ndcg@10_sampled", "hr@10_full", "ndcg@10_full")


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def training_curves(curve: list[dict]) -> bytes:
    """Loss (and validation HR@10 where known) per epoch, one line per training phase."""
    figure, (loss_axis, hr_axis) = plt.subplots(1, 2, figsize=(10, 3.5))
    for phase in dict.fromkeys(point["phase"] for point in curve):
        points = [p for p in curve if p["phase"] == phase]
        loss_axis.plot([p["epoch"] for p in points], [p["loss"] for p in points], marker="o", label=phase)
        rated = [p for p in points if p.get("hr@10") is not None]
        if rated:
            hr_axis.plot([p["epoch"] for p in rated], [p["hr@10"] for p in rated], marker="o", label=phase)
    loss_axis.set(title="training loss", xlabel="epoch", ylabel="loss")
    hr_axis.set(title="validation HR@10", xlabel="epoch", ylabel="HR@10")
    for axis in (loss_axis, hr_axis):
        if axis.lines:
            axis.legend(fontsize=8)
    return _png(figure)


def metrics_chart(rows: dict[str, dict]) -> bytes:
    """One group of bars per metric, one bar per model (NCF and its baselines)."""
    figure, axis = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / max(1, len(rows))
    for position, (name, metrics) in enumerate(rows.items()):
        values = [metrics.get(metric, 0.0) or 0.0 for metric in SHOWN_METRICS]
        axis.bar([i + position * width for i in range(len(SHOWN_METRICS))], values, width, label=name)
    axis.set_xticks([i + width * (len(rows) - 1) / 2 for i in range(len(SHOWN_METRICS))], SHOWN_METRICS)
    axis.set(title="held-out latest interaction per user", ylabel="value")
    axis.legend(fontsize=8)
    return _png(figure)


def rl_training_curves(critic_loss: list[float], actor_loss: list[float], log_every: int) -> bytes:
    """TD3's critic and actor losses, one point per `log_every` updates."""
    figure, (critic_axis, actor_axis) = plt.subplots(1, 2, figsize=(10, 3.5))
    updates = [log_every * (i + 1) for i in range(len(critic_loss))]
    critic_axis.plot(updates, critic_loss, marker="o")
    actor_axis.plot(updates[:len(actor_loss)], actor_loss, marker="o", color="tab:orange")
    critic_axis.set(title="critic loss (both critics)", xlabel="update", ylabel="MSE")
    actor_axis.set(title="actor loss (−Q)", xlabel="update", ylabel="loss")
    return _png(figure)


def reward_chart(rewards: dict[str, float]) -> bytes:
    """Mean reward per panel of each policy, on the same simulated visitors."""
    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.bar(list(rewards), [value or 0.0 for value in rewards.values()],
             color=["tab:blue", "tab:gray", "tab:olive", "tab:red"][:len(rewards)])
    axis.set(title="simulated mean reward per panel", ylabel="reward")
    return _png(figure)
