"""Attention maps and Grad-CAM of a classifier on one image, written as
PNGs (the library of ``tools/analysis_tools/visualize_attention.py``)."""
import os
import os.path as osp

import numpy as np
import torch
import torch.nn as nn

from mmhybrid.visualization import (AttentionCapture, PixelNormalizer,
                                    default_cam_layer, load_image,
                                    save_heatmap_grid, write_attention_pngs)

__all__ = ['build_classifier', 'grad_cam', 'visualize_attention']


def build_classifier(config=None, checkpoint=None, backbone=None, arch=None,
                     num_classes=1000):
    """The classifier of a classification ``config`` (+ ``checkpoint``), or
    GAP + a linear head of ``num_classes`` over a random-init ``backbone``
    (a registered type)."""
    from .model import build_model
    from .runner import config_task, load_config
    if config is None:
        return build_model(backbone=backbone, arch=arch,
                           num_classes=num_classes)
    cfg = load_config(config)
    if config_task(cfg) != 'classification':
        raise ValueError(
            f'{config}: not a classification config (default_scope '
            f'{cfg.default_scope!r}); attention tools need an mmpretrain '
            'classifier')
    return build_model(cfg, checkpoint=checkpoint)


def _reshape_transform(t):
    """Token outputs (B, N, C) -> (B, C, h, w) for Grad-CAM; tuples: last."""
    if isinstance(t, (tuple, list)):
        t = t[-1]
    if t.dim() == 3:
        B, N, C = t.shape
        s = int(round(N**0.5))
        if s * s != N:
            raise ValueError(f'cannot make a square grid of {N} tokens')
        t = t.transpose(1, 2).reshape(B, C, s, s)
    return t


def grad_cam(model, normalizer, pixels, target_layer, target=None):
    """Grad-CAM (pytorch_grad_cam.GradCAM) of ``target`` (default: the
    predicted class) -> (H, W) array in [0, 1]."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from .model import TensorForward
    wrapped = nn.Sequential(normalizer, TensorForward(model, output='last'))
    wrapped.eval()
    targets = None if target is None else [ClassifierOutputTarget(target)]
    with GradCAM(model=wrapped, target_layers=[target_layer],
                 reshape_transform=_reshape_transform) as cam:
        return cam(input_tensor=pixels, targets=targets)[0]


def visualize_attention(image, out_dir, model=None, config=None,
                        checkpoint=None, backbone=None, arch=None,
                        shape=(224, 224), query=(0.5, 0.5), cam=False,
                        cam_layer=None, max_panels=16):
    """Capture every attention map of a classifier on ``image`` and write
    the PNGs (:func:`~mmhybrid.visualization.draw.write_attention_pngs`),
    plus Grad-CAM of the predicted class with ``cam``.

    Args:
        image (str): the image file (resized to ``shape`` = (H, W)).
        out_dir (str): where the PNGs go (``{image stem}_{backbone
            type}_...png``).
        model (nn.Module, optional): a built classifier; else one from
            :func:`build_classifier` (``config``/``checkpoint`` or
            ``backbone``/``arch``).
        query (tuple[float]): fractional (y, x) of the query position.
        cam_layer (str, optional): Grad-CAM target module path (default:
            the backbone's ``default_cam_layer()``).

    Returns:
        dict: ``paths`` (written PNGs), ``records`` (the captured
        records), ``pred`` (predicted class) and ``family`` (the backbone's
        type name).
    """
    from .model import TensorForward
    img = load_image(image, shape)  # checks the path first
    if model is None:
        model = build_classifier(config, checkpoint, backbone, arch)
    family = type(getattr(model, 'backbone', model)).__name__
    normalizer = PixelNormalizer(model.data_preprocessor)
    pixels = torch.from_numpy(np.ascontiguousarray(img)).permute(
        2, 0, 1)[None].float()
    img_rgb = np.ascontiguousarray(img[..., ::-1])
    os.makedirs(out_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(image))[0]
    prefix = f'{stem}_{family.lower()}'
    with AttentionCapture(model, query) as cap, torch.no_grad():
        logits = TensorForward(model, output='last')(normalizer(pixels))
    pred = int(logits.argmax(1)[0])
    paths = write_attention_pngs(cap.records, img_rgb, out_dir, prefix,
                                 max_panels)
    if cam:
        layer = model.get_submodule(cam_layer) if cam_layer else \
            default_cam_layer(model)
        heat = grad_cam(model, normalizer, pixels, layer, pred)
        paths.append(save_heatmap_grid(
            img_rgb, [(f'Grad-CAM class {pred}', heat)],
            osp.join(out_dir, f'{prefix}_gradcam.png'), alpha=0.45))
    return dict(paths=paths, records=cap.records, pred=pred, family=family)
