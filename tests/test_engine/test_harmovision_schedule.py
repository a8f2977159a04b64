"""The HarmoVision ImageNet lr schedule, as mmengine runs the config's
``param_scheduler``, against CVNets' warm-up + epoch cosine
(``optim/scheduler/cosine.py``: linear warm-up by iteration, then
``min + (max - min) (1 + cos(pi epoch / max_epochs)) / 2`` per epoch)."""
import math
import os.path as osp

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import PARAM_SCHEDULERS

from mmhybrid.apis import load_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _cvnets_lr(it, epoch, max_lr, min_lr, init_lr, warmup, epochs):
    if it < warmup:
        return init_lr + it * (max_lr - init_lr) / warmup
    return min_lr + 0.5 * (max_lr - min_lr) * (
        1 + math.cos(math.pi * epoch / epochs))


def test_lr_follows_cvnets():
    cfg = load_config(osp.join(ROOT, 'configs/imagenet_harmovision_n.py'))
    max_lr = cfg.optim_wrapper.optimizer.lr
    epochs = cfg.train_cfg.max_epochs
    warm = cfg.param_scheduler[0]
    init_lr, warmup = max_lr * warm.start_factor, warm.end
    min_lr = cfg.param_scheduler[1].eta_min
    # upstream's numbers (config.yaml:58-63)
    assert (max_lr, min_lr, init_lr, warmup, epochs) == (
        1.5e-3, 1.25e-4, 1.5e-3 * (2e-4 / 1.5e-3), 20000, 300)

    param = torch.nn.Parameter(torch.zeros(1))
    optim = OptimWrapper(torch.optim.AdamW([param], lr=max_lr))
    epoch_len = 3701  # ~1.28M images / the mean variable batch (346)
    scheds = [PARAM_SCHEDULERS.build(s.to_dict(), default_args=dict(
        optimizer=optim, epoch_length=epoch_len))
        for s in cfg.param_scheduler]
    it, worst_warm = 0, 0.0
    for epoch in range(epochs):
        iters = epoch_len if it < warmup + epoch_len else 1
        for _ in range(iters):
            lr = optim.param_groups[0]['lr']
            want = _cvnets_lr(it, epoch, max_lr, min_lr, init_lr, warmup,
                              epochs)
            err = abs(lr - want) / want
            if it < warmup:  # the cosine's factor overlaps the warm-up
                worst_warm = max(worst_warm, err)
            else:
                assert err < 3e-5, (it, epoch, lr, want)
            for s in scheds:
                if not s.by_epoch:
                    s.step()
            it += 1
        if iters == 1:  # past the warm-up: one lr per epoch
            it += epoch_len - 1
        for s in scheds:
            if s.by_epoch:
                s.step()
    assert worst_warm < 7e-4
    assert abs(optim.param_groups[0]['lr'] - min_lr) < 1e-6 * min_lr + \
        (max_lr - min_lr) * 1e-4
