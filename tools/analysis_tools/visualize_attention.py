"""Visualise the attention of an mmhybrid classifier on one image.

    python tools/analysis_tools/visualize_attention.py IMAGE \
        (--config CFG [--checkpoint CKPT] | --backbone TYPE --arch A) \
        --out-dir DIR [--cam] [--shape H W] [--query Y X]

Every attention map the model passes through an ``AttentionMap`` is
captured (forward hooks) and drawn by its layout, whatever the family
(:mod:`mmhybrid.visualization.draw`): attention over tokens or windows as
``*_{label}_mean.png`` (attention each position receives, mean over
queries) and ``*_{label}_query.png`` (the row of the query at ``--query``);
spatial maps as ``*_{label}.png`` and 3-D ``*_{label}_surface.png``;
channel weights as ``*_{label}_channel.png``; named maps as
``*_{label}_channel.png`` / ``_spatial.png`` / ``_surface.png``. ``--cam``
adds Grad-CAM (pytorch_grad_cam) of the predicted class at the backbone's
CAM layer (``--cam-layer`` a module path to override): ``*_gradcam.png``.
Every heat-map PNG shows the input image and the maps overlaid on it.
"""
import argparse

from mmhybrid.apis import add_backbone_args, visualize_attention


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('image', help='input image')
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--config', help='classification config')
    add_backbone_args(p, group=src, help='random-init classifier over '
                      'a registered backbone')
    p.add_argument('--checkpoint', help='checkpoint (with --config)')
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


def main(argv=None):
    args = parse_args(argv)
    done = visualize_attention(
        args.image, args.out_dir, config=args.config,
        checkpoint=args.checkpoint, backbone=args.backbone, arch=args.arch,
        shape=args.shape, query=args.query, cam=args.cam,
        cam_layer=args.cam_layer, max_panels=args.max_panels)
    if not done['records']:
        print(f'warning: no attention map captured in {done["family"]}')
    print(f'{done["family"]}: predicted class {done["pred"]}; wrote '
          f'{len(done["paths"])} PNGs:')
    for path in done['paths']:
        print(f'  {path}')
    return done['paths']


if __name__ == '__main__':
    main()
