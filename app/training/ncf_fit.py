"""The loop that trains one NCF network: epochs over fresh examples, ids hidden at random,
stopped early on the validation pairs when it has them."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from app.progress import Progress
from app.training.ncf_examples import TrainingExamples, Validation
from app.training.ncf_network import NCFConfig, NCFNetwork


@dataclass
class FitRun:
    epochs: int
    best_epoch: int
    train_loss: float
    best_hr: float | None = None
    best_ndcg: float | None = None


def train_model(user_content, item_content, examples: TrainingExamples, config: NCFConfig, epochs: int,
                validation: Validation | None, progress: Progress | None, rng, start: NCFNetwork | None = None,
                step: str = "ncf") -> tuple[NCFNetwork, FitRun]:
    """A fresh model (or `start` itself, training only its parameters that require a gradient)
    trained for up to `epochs`; with `validation`, stopped early at its best epoch."""
    torch.manual_seed(config.seed)
    model = NCFNetwork(user_content, item_content, config) if start is None else start
    trained = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.Adam(trained, lr=config.learning_rate, weight_decay=config.weight_decay)
    run, best_state = FitRun(0, 0, float("nan")), None
    for epoch in range(1, epochs + 1):
        model.train()
        train_loss = train_epoch(model, optimizer, *examples.draw(rng), rng)
        run.epochs, run.train_loss = epoch, train_loss
        hr, ndcg = validation.evaluate(model) if validation is not None else (None, None)
        if progress:
            progress(step, 100.0 * epoch / epochs, epoch=epoch, loss=train_loss,
                     validation_hr_at_10=hr, validation_ndcg_at_10=ndcg)
        if validation is None:
            run.best_epoch = epoch
        elif run.best_ndcg is None or ndcg > run.best_ndcg:
            run.best_epoch, run.best_hr, run.best_ndcg = epoch, hr, ndcg
            best_state = {name: t.detach().clone() for name, t in model.state_dict().items()}
        elif epoch - run.best_epoch >= config.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval(), run


def train_epoch(model: NCFNetwork, optimizer, users, items, labels, weights, history, rng,
                 teacher: NCFNetwork | None = None, alpha: float = 1.0) -> float:
    """One pass in random order; each example's ids are hidden with probability `id_dropout` (not its
    history: a visitor without a trained row may have one).
    With a `teacher`, each target is `alpha` × the label + (1 - `alpha`) × the teacher's probability
    for the same (possibly hidden) ids. Mean weighted loss."""
    order = torch.as_tensor(rng.permutation(users.size))
    users, items = torch.as_tensor(users), torch.as_tensor(items)
    labels, weights, history = torch.as_tensor(labels), torch.as_tensor(weights), torch.as_tensor(history)
    total = 0.0
    for batch in order.split(model.config.batch_size):
        u, i = users[batch], items[batch]  # (b,) each
        content_u, content_i = model.user_content[u], model.item_content[i]
        hide = model.config.id_dropout
        if hide > 0:
            u = torch.where(torch.rand(u.shape) < hide, model.n_users, u)
            i = torch.where(torch.rand(i.shape) < hide, model.n_items, i)
        targets, window = labels[batch], history[batch]  # (b,), (b, L)
        if teacher is not None:
            with torch.no_grad():
                taught = torch.sigmoid(teacher(u, i, content_u, content_i, window))
            targets = alpha * targets + (1 - alpha) * taught
        losses = nn.functional.binary_cross_entropy_with_logits(model(u, i, content_u, content_i, window), targets,
                                                                reduction="none")  # (b,)
        loss = (losses * weights[batch]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * batch.numel()
    return total / users.numel()


def renamed(progress: Progress | None, step: str) -> Progress | None:
    """The callback with its step renamed, so each fit reports under its own name."""
    return None if progress is None else (lambda _step, percent, **details: progress(step, percent, **details))
