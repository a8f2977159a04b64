"""The Grad-CAM layer of a model, reading images, and mapping [0, 255]
pixels to model inputs (models are built by ``mmhybrid.apis.build_model``)."""
import os.path as osp

import torch
import torch.nn as nn

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


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
