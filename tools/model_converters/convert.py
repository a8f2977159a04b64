"""Convert an upstream classifier checkpoint into mmhybrid's.

    python tools/model_converters/convert.py SRC DST [--family auto|NAME]

SRC is a released classifier (weights at the top level or under
'state_dict_ema', 'state_dict', 'model' or 'model_ema'): the official or
timm SHViT, the upstream GA-CSWin, the official GA-ConvNeXt, or any
family whose model file declares ``classifier_converters``. DST is an
mmhybrid MMPretrain classifier checkpoint: it loads with
``mmpretrain.apis.init_model('configs/imagenet_<model>.py', DST)``, and its
backbone part serves ``init_cfg=dict(type='Pretrained', ...)`` in detection
and segmentation configs. ``--family auto`` (default) picks the family
whose converter recognises the layout.
"""
import argparse
import os.path as osp
import sys

from mmhybrid.apis import (add_trust_arg, apply_trust_arg,
                           checkpoint_families, convert_checkpoint, run_cli)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='upstream classifier checkpoint')
    parser.add_argument('dst', help='where to save the mmhybrid checkpoint')
    parser.add_argument('--family', default='auto',
                        choices=['auto'] + checkpoint_families(),
                        help='the family whose converter to use (default: '
                        'the one that recognises the layout)')
    parser.add_argument('--force', action='store_true',
                        help='overwrite DST if it exists')
    add_trust_arg(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with apply_trust_arg(args, args.src):
        done = convert_checkpoint(args.src, args.dst, args.family,
                                  force=args.force)
    if done['unknown']:
        print(f'Warning: {len(done["unknown"])} keys belong to neither the '
              f'backbone nor the head and are kept unchanged: '
              f'{", ".join(done["unknown"])}', file=sys.stderr)
    print(f'Converted {done["num_tensors"]} tensors ({done["family"]}, '
          f'{done["layout"]} layout) from {args.src} to {args.dst}')


if __name__ == '__main__':
    sys.exit(run_cli(main, osp.basename(__file__)))
