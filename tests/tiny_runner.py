"""A tiny mmengine Runner setup for the engine tests."""
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from torch.utils.data import DataLoader, TensorDataset


class TinyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8),
                                 nn.Linear(8, 1))

    def forward(self, x, y, mode='loss'):
        pred = self.net(x)
        if mode == 'loss':
            return dict(loss=((pred - y)**2).mean())
        return pred


def tiny_runner(work_dir, max_epochs, runner_cls=None, **kwargs):
    """A Runner (``runner_cls``, default mmhybrid's ``HybridRunner``) of
    :class:`TinyModel` on 16 random samples."""
    if runner_cls is None:
        from mmhybrid.engine import HybridRunner as runner_cls
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(16, 4, generator=g),
                         torch.randn(16, 1, generator=g))
    loader = DataLoader(data, batch_size=4,
                        collate_fn=lambda b: dict(
                            x=torch.stack([i[0] for i in b]),
                            y=torch.stack([i[1] for i in b])))
    kwargs.setdefault('default_hooks', dict(
        checkpoint=dict(type='SafeCheckpointHook', interval=1)))
    return runner_cls(model=TinyModel(), work_dir=str(work_dir),
                  train_dataloader=loader,
                  optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
                  train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
                  env_cfg=dict(dist_cfg=dict(backend='gloo')),
                  experiment_name=f'exp{max_epochs}{len(kwargs)}', **kwargs)
