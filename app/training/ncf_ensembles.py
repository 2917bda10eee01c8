"""Several NCF networks from different seeds served as one: merged into one wider
network whose logit is the mean of theirs, or (with `distill`) teaching one network
of a member's size that is served instead."""
from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from app.progress import Progress
from app.training.ncf_examples import TrainingExamples
from app.training.ncf_fit import FitRun, renamed, train_epoch, train_model
from app.training.ncf_network import NCFConfig, NCFNetwork


def train_members(user_content, item_content, examples: TrainingExamples, config: NCFConfig, epochs: int,
                   progress: Progress | None, step: str, rng) -> tuple[NCFNetwork, FitRun]:
    """`config.members` fresh models, each trained for `epochs`, merged (or, with `config.distill`,
    distilled into one of the members' size); the first one's run. Their progress is reported as
    `step`, `step`_2, ..., the distillation's as `step`_distill."""
    models, runs = [], []
    for member in range(config.members):
        model, run = train_model(user_content, item_content, examples, replace(config, seed=config.seed + member),
                            epochs, None, renamed(progress, step if member == 0 else f"{step}_{member + 1}"), rng)
        models.append(model)
        runs.append(run)
    if config.distill and len(models) > 1:
        return distilled(merged(models), models[0], examples, config, epochs, renamed(progress, f"{step}_distill"),
                         rng), runs[0]
    return merged(models), runs[0]


def distilled(teacher: NCFNetwork, first: NCFNetwork, examples: TrainingExamples, config: NCFConfig, epochs: int,
              progress: Progress | None, rng) -> NCFNetwork:
    """A model of the members' size trained to score as `teacher` does on `examples` and fresh
    negatives: from `first` (a copy) for `config.distill_epochs`, or afresh for `epochs`."""
    student_config = replace(config, seed=config.seed + config.members,
                             negatives_per_positive=config.distill_negatives_per_positive)
    torch.manual_seed(student_config.seed)
    student = NCFNetwork(first.user_content.numpy(), first.item_content.numpy(), first.config)
    if config.distill_from_first:
        student.load_state_dict(first.state_dict())
        epochs = config.distill_epochs
    optimizer = torch.optim.Adam(student.parameters(), lr=config.distill_learning_rate,
                                 weight_decay=config.weight_decay)
    examples = replace(examples, per_positive=config.distill_negatives_per_positive)
    for epoch in range(1, epochs + 1):
        student.train()
        loss = train_epoch(student, optimizer, *examples.draw(rng), rng, teacher=teacher, alpha=config.distill_alpha)
        if progress:
            progress("ncf", 100.0 * epoch / epochs, epoch=epoch, loss=loss)
    return student.eval()


def merged(models: list[NCFNetwork]) -> NCFNetwork:
    """One NCF whose logit is the mean of the models' logits: their id factors side by side, their MLP
    towers as one block-diagonal tower (sharing the content inputs), their heads averaged."""
    if len(models) == 1:
        return models[0]
    first, k = models[0], len(models)
    config = first.config
    wide = NCFNetwork(first.user_content.numpy(), first.item_content.numpy(),
               replace(config, gmf_dim=k * config.gmf_dim, mlp_embedding_dim=k * config.mlp_embedding_dim,
                       mlp_layers=tuple(k * size for size in config.mlp_layers), members=1))
    g, d = config.gmf_dim, config.mlp_embedding_dim
    with torch.no_grad():
        # Every member masks the same padding of a window, so the mean of the history factors laid side
        # by side is the members' means side by side: they merge like the other id factors.
        for name in ("user_gmf", "item_gmf", "user_mlp", "item_mlp") + (("history_gmf",) if
                                                                        config.history_length else ()):
            getattr(wide, name).weight.copy_(torch.cat([getattr(m, name).weight for m in models], dim=1))
        layers = [[layer for layer in m.mlp if isinstance(layer, nn.Linear)] for m in models]
        wide_layers = [layer for layer in wide.mlp if isinstance(layer, nn.Linear)]
        for depth, wide_layer in enumerate(wide_layers):
            wide_layer.weight.zero_()
            wide_layer.bias.copy_(torch.cat([member[depth].bias for member in layers]))
            for m, member in enumerate(layers):
                weight = member[depth].weight  # (out, in)
                rows = slice(m * weight.shape[0], (m + 1) * weight.shape[0])
                if depth > 0:
                    wide_layer.weight[rows, m * weight.shape[1]:(m + 1) * weight.shape[1]] = weight
                    continue
                # The first layer's inputs: user id embeddings, item id embeddings, then the shared content.
                wide_layer.weight[rows, m * d:(m + 1) * d] = weight[:, :d]
                wide_layer.weight[rows, k * d + m * d:k * d + (m + 1) * d] = weight[:, d:2 * d]
                wide_layer.weight[rows, 2 * k * d:] = weight[:, 2 * d:]
        last = config.mlp_layers[-1]
        heads = [m.head.weight[0] for m in models]  # each (g + last,): GMF part, then MLP part
        wide.head.weight[0] = torch.cat([h[:g] for h in heads] + [h[g:g + last] for h in heads]) / k
        wide.head.bias.copy_(torch.stack([m.head.bias for m in models]).mean(dim=0))
    return wide.eval()
