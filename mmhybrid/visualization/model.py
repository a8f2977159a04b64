"""Build a classifier from a config (+ checkpoint) or from a bare backbone
name, read images, and map [0, 255] pixels to model inputs."""
import os.path as osp

import torch
import torch.nn as nn

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)

def model_family(model):
    """The backbone's class name (e.g. 'SHViT')."""
    backbone = getattr(model, 'backbone', model)
    return type(backbone).__name__


def default_cam_layer(model):
    """The Grad-CAM target layer of a classifier or backbone, as its backbone
    states it (``default_cam_layer()``; else its last child)."""
    bb = getattr(model, 'backbone', model)
    if callable(getattr(bb, 'default_cam_layer', None)):
        return bb.default_cam_layer()
    layer = list(bb.children())[-1]
    while isinstance(layer, (nn.Sequential, nn.ModuleList)):
        layer = layer[-1]
    return layer


def _build_model_cfg(model_cfg):
    import mmhybrid.models  # noqa: F401
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    return MODELS.build(model_cfg)


def build_classifier(config=None, checkpoint=None, backbone=None, arch=None,
                     num_classes=1000, device='cpu'):
    """Return an eval-mode mmpretrain ``ImageClassifier``.

    Either ``config`` (a path or Config whose ``model`` is a classifier; the
    top-level ``data_preprocessor`` is merged in as the Runner does) with an
    optional ``checkpoint``, or ``backbone`` (a registered backbone name) and
    ``arch``: GAP + a linear head on the last output, random init.
    """
    from mmengine.config import Config
    if config is not None:
        if isinstance(config, str):
            if not osp.isfile(config):
                raise FileNotFoundError(f'Config file not found: {config!r}')
            cfg = Config.fromfile(config)
        else:
            cfg = config
        scope = cfg.get('default_scope', 'mmpretrain')
        if scope != 'mmpretrain':
            raise ValueError(
                f'{config}: not a classification config (default_scope '
                f'{scope!r}); attention tools need an mmpretrain classifier')
        model_cfg = cfg.model.copy()
        if cfg.get('data_preprocessor') is not None:
            model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
        model = _build_model_cfg(model_cfg)
    else:
        if backbone is None:
            raise ValueError('give a config or a backbone name')
        bb_cfg = dict(type=backbone)
        if arch is not None:
            bb_cfg['arch'] = arch
        bb = _build_model_cfg(bb_cfg)
        bb.eval()
        size = 64
        with torch.no_grad():
            outs = bb(torch.zeros(1, 3, size, size))
        in_ch = outs[-1].shape[1]
        model = _build_model_cfg(
            dict(type='ImageClassifier', backbone=bb_cfg,
                 neck=dict(type='GlobalAveragePooling'),
                 head=dict(type='LinearClsHead', num_classes=num_classes,
                           in_channels=in_ch),
                 data_preprocessor=dict(
                     type='ClsDataPreprocessor', mean=IMAGENET_MEAN,
                     std=IMAGENET_STD, to_rgb=True,
                     num_classes=num_classes)))
    model.init_weights()
    if checkpoint:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f'Checkpoint file not found: {checkpoint!r}')
        from mmhybrid.models.utils import load_model_checkpoint
        load_model_checkpoint(model, checkpoint)
    return model.to(device).eval()


class PixelNormalizer(nn.Module):
    """Map BGR-or-RGB [0, 255] pixels (B, 3, H, W, in the order of the
    dataset's images, i.e. BGR from ``LoadImageFromFile``) to model inputs
    exactly as the model's ``data_preprocessor`` does: optional BGR->RGB
    swap, then ``(x - mean) / std``. Differentiable."""

    def __init__(self, data_preprocessor=None):
        super().__init__()
        dp = data_preprocessor
        mean = getattr(dp, 'mean', None) if dp is not None else None
        std = getattr(dp, 'std', None) if dp is not None else None
        if mean is None or std is None:
            mean = torch.tensor(IMAGENET_MEAN).view(-1, 1, 1)
            std = torch.tensor(IMAGENET_STD).view(-1, 1, 1)
        self.register_buffer('mean', mean.detach().clone().float().view(
            1, -1, 1, 1))
        self.register_buffer('std', std.detach().clone().float().view(
            1, -1, 1, 1))
        self.swap = bool(getattr(dp, '_channel_conversion', False))

    def forward(self, x):
        if self.swap:
            x = x.flip(1)
        return (x - self.mean) / self.std


def load_image(path, shape=None):
    """Read ``path`` -> (BGR uint8 H x W x 3 array, resized to ``shape`` =
    (H, W) if given). Raises FileNotFoundError naming the path."""
    import mmcv
    if not osp.isfile(path):
        raise FileNotFoundError(f'Image file not found: {path!r}')
    img = mmcv.imread(path, channel_order='bgr')
    if img is None:
        raise ValueError(f'Cannot decode image {path!r}')
    if shape is not None:
        img = mmcv.imresize(img, (int(shape[1]), int(shape[0])))
    return img
