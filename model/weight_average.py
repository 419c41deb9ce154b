"""The moving average of the weights that ``--ema-epochs`` keeps beside the trained ones: val
judges it, ``best.pt`` keeps it and export ships it (``model.train``)."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from model.recipes import TrainConfig

__all__ = ["EMA_EVERY", "build_ema", "update_average"]


EMA_EVERY = 8  # optimizer steps between updates of the weight average


def build_ema(net: nn.Module, cfg: TrainConfig, steps_per_epoch: int) -> AveragedModel | None:
    """The moving average of the weights, or ``None`` when ``ema_epochs`` is 0.

    Why: on FER2013's noisy labels the weights of late epochs wander around a good point; their
    average sits nearer it than any one of them. Updated every ``EMA_EVERY`` steps (the update
    reads all 17 M weights; ``update_average``), with the decay that gives a half-life of
    ``ema_epochs`` epochs. Its count of updates (``n_averaged``) stays on the CPU.
    """
    if cfg.ema_epochs <= 0:
        return None
    updates = max(cfg.ema_epochs * steps_per_epoch / EMA_EVERY, 1.0)
    decay = 0.5 ** (1.0 / updates)
    return AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def update_average(ema: AveragedModel, net: nn.Module) -> None:
    """What ``ema.update_parameters(net)`` does for ``build_ema``'s average, without making the
    host wait for the GPU.

    Why: torch's version hands the average function its update count copied to the GPU, a
    blocking copy that stalls the queue of work at every update; the EMA function ignores the
    count. Here the count, on the CPU, is read there: the first update copies the weights and
    buffers, later ones run the same function on the same groups (by device and dtype), so the
    average is the very one torch computes (a test holds them equal).
    """
    averaged = [*ema.module.parameters(), *ema.module.buffers()]
    current = [*net.parameters(), *net.buffers()]
    if int(ema.n_averaged) == 0:
        for mine, theirs in zip(averaged, current, strict=True):
            mine.detach().copy_(theirs.detach())
    else:
        groups: dict[tuple[torch.device, torch.dtype], tuple[list[torch.Tensor],
                                                            list[torch.Tensor]]] = {}
        for mine, theirs in zip(averaged, current, strict=True):
            group = groups.setdefault((mine.device, mine.dtype), ([], []))
            group[0].append(mine.detach())
            group[1].append(theirs.detach())
        for mine_group, their_group in groups.values():
            ema.multi_avg_fn(mine_group, their_group, ema.n_averaged)
    ema.n_averaged += 1
