"""Visualise the attention of an mmhybrid classifier on one image.

    python tools/analysis_tools/visualize_attention.py IMAGE \
        (--config CFG [--checkpoint CKPT] | --backbone SHViT --arch s1) \
        --out-dir DIR [--cam] [--shape H W] [--query Y X]

Per family (maps captured with forward hooks, see mmhybrid.visualization):

* SHViT: single-head attention of every SHSA block - ``*_shsa_mean.png``
  (attention each position receives, mean over queries) and
  ``*_shsa_query.png`` (the row of the query at ``--query``).
* CSWin: cross-shaped stripe attention of every LePE branch -
  ``*_cswin_mean.png`` / ``*_cswin_query.png``.
* HarmoVision: LW-MHSA windows (``*_lwmhsa_mean.png`` / ``_query.png``), DSA
  spatial maps (``*_dsa.png`` and 3-D ``*_dsa_surface.png``) and DCA channel
  weights (``*_dca_channel.png``).
* HAM (HAMViT): channel weights (``*_ham_channel.png``), spatial maps
  A_S1 / A_S2 overlaid (``*_ham_spatial.png``) and 3-D surfaces
  (``*_ham_surface.png``).
* ``--cam``: Grad-CAM (pytorch_grad_cam) of the predicted class at the
  backbone's last stage (``--cam-layer`` a module path to override):
  ``*_gradcam.png``.

Every heat-map PNG shows the input image and the maps overlaid on it.
"""
import argparse
import os
import os.path as osp

import numpy as np
import torch
import torch.nn as nn

from mmhybrid.apis import TensorForward, build_model, config_task, load_config
from mmhybrid.visualization import (AttentionCapture, PixelNormalizer,
                                    default_cam_layer, load_image, save_bar,
                                    save_heatmap_grid, save_surface)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('image', help='input image')
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--config', help='classification config')
    src.add_argument('--backbone',
                     help='registered backbone (SHViT, CSWin, HarmoVision, '
                     'HAMViT): random-init classifier')
    p.add_argument('--checkpoint', help='checkpoint (with --config)')
    p.add_argument('--arch', help='backbone arch (with --backbone)')
    p.add_argument('--out-dir', required=True, help='where PNGs go')
    p.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                   default=(224, 224), help='input size (default 224 224)')
    p.add_argument('--query', type=float, nargs=2, metavar=('Y', 'X'),
                   default=(0.5, 0.5),
                   help='query position as fractions of H, W (0.5 0.5)')
    p.add_argument('--cam', action='store_true', help='also Grad-CAM')
    p.add_argument('--cam-layer', help='Grad-CAM target module path, e.g. '
                   'backbone.blocks3 (default: last backbone stage)')
    p.add_argument('--max-panels', type=int, default=16,
                   help='at most this many blocks per figure (evenly spread)')
    args = p.parse_args(argv)
    if args.checkpoint and not args.config:
        p.error('--checkpoint needs --config')
    return args


def _spread(items, n):
    if len(items) <= n:
        return items
    idx = np.linspace(0, len(items) - 1, n).round().astype(int)
    return [items[i] for i in idx]


def _short(name):
    return name.replace('backbone.', '').replace('.m.', '.')


def write_attention_pngs(records, img_rgb, out_dir, prefix, max_panels=16):
    """Write the PNGs of the captured records; return their paths."""
    paths = []
    by_type = {}
    for r in records:
        by_type.setdefault(r['type'], []).append(r)

    def p(suffix):
        return osp.join(out_dir, f'{prefix}_{suffix}.png')

    for kind in ('shsa', 'cswin', 'lwmhsa'):
        recs = _spread(by_type.get(kind, []), max_panels)
        if not recs:
            continue
        for key, what in (('mean', 'mean over queries'),
                          ('query', 'query row')):
            items = [(f'{_short(r["name"])} {r["hw"][0]}x{r["hw"][1]}',
                      r['maps'][key][0].numpy()) for r in recs]
            paths.append(save_heatmap_grid(
                img_rgb, items, p(f'{kind}_{key}'),
                suptitle=f'{kind.upper()} attention ({what})'))
    recs = _spread(by_type.get('dsa', []), max_panels)
    if recs:
        items = [(_short(r['name']), r['maps']['spatial'][0].numpy())
                 for r in recs]
        paths.append(save_heatmap_grid(img_rgb, items, p('dsa'),
                                       suptitle='DSA spatial maps'))
        paths.append(save_surface(items[-3:], p('dsa_surface'),
                                  suptitle='DSA spatial maps (3-D)'))
    recs = _spread(by_type.get('dca', []), max_panels)
    if recs:
        paths.append(save_bar(
            [(_short(r['name']), r['maps']['channel'][0].numpy())
             for r in recs], p('dca_channel'),
            suptitle='DCA channel weights'))
    recs = by_type.get('ham', [])
    if recs:
        items_c, items_s = [], []
        for r in recs:
            m = r['maps']
            items_c.append((f'{_short(r["name"])} A_C',
                            m['channel'][0].numpy()))
            items_c.append((f'{_short(r["name"])} important mask',
                            m['important'][0].numpy()))
            items_s.append((f'{_short(r["name"])} A_S1 (important)',
                            m['spatial_important'][0].numpy()))
            items_s.append((f'{_short(r["name"])} A_S2 (sub-important)',
                            m['spatial_sub_important'][0].numpy()))
        paths.append(save_bar(items_c, p('ham_channel'),
                              suptitle='HAM channel attention'))
        paths.append(save_heatmap_grid(img_rgb, items_s, p('ham_spatial'),
                                       suptitle='HAM spatial attention'))
        paths.append(save_surface(items_s, p('ham_surface'),
                                  suptitle='HAM spatial attention (3-D)'))
    return paths


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
    wrapped = nn.Sequential(normalizer, TensorForward(model, output='last'))
    wrapped.eval()
    targets = None if target is None else [ClassifierOutputTarget(target)]
    with GradCAM(model=wrapped, target_layers=[target_layer],
                 reshape_transform=_reshape_transform) as cam:
        return cam(input_tensor=pixels, targets=targets)[0]


def build_classifier(config=None, checkpoint=None, backbone=None, arch=None,
                     num_classes=1000):
    """The classifier of a classification ``config`` (+ ``checkpoint``), or
    GAP + a linear head of ``num_classes`` over a random-init ``backbone``."""
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


def main(argv=None):
    args = parse_args(argv)
    img = load_image(args.image, args.shape)  # checks the path first
    model = build_classifier(args.config, args.checkpoint, args.backbone,
                             args.arch)
    family = type(getattr(model, 'backbone', model)).__name__
    normalizer = PixelNormalizer(model.data_preprocessor)
    pixels = torch.from_numpy(np.ascontiguousarray(img)).permute(
        2, 0, 1)[None].float()
    img_rgb = np.ascontiguousarray(img[..., ::-1])
    os.makedirs(args.out_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(args.image))[0]
    prefix = f'{stem}_{family.lower()}'

    with AttentionCapture(model, args.query) as cap, torch.no_grad():
        logits = TensorForward(model, output='last')(normalizer(pixels))
    pred = int(logits.argmax(1)[0])
    paths = write_attention_pngs(cap.records, img_rgb, args.out_dir, prefix,
                                 args.max_panels)
    if not cap.records:
        print(f'warning: no supported attention module found in {family}')
    if args.cam:
        if args.cam_layer:
            layer = model.get_submodule(args.cam_layer)
        else:
            layer = default_cam_layer(model)
        heat = grad_cam(model, normalizer, pixels, layer, pred)
        paths.append(save_heatmap_grid(
            img_rgb, [(f'Grad-CAM class {pred}', heat)],
            osp.join(args.out_dir, f'{prefix}_gradcam.png'), alpha=0.45))
    print(f'{family}: predicted class {pred}; wrote {len(paths)} PNGs:')
    for p in paths:
        print(f'  {p}')
    return paths


if __name__ == '__main__':
    main()
