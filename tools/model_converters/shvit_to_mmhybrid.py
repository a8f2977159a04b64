"""Convert an official (weights under 'model') or timm-layout SHViT checkpoint
into an mmhybrid MMPretrain classifier checkpoint.

    python tools/model_converters/shvit_to_mmhybrid.py shvit_s4.pth \
        checkpoints/shvit_s4_mmhybrid.pth

The result loads with ``mmpretrain.apis.init_model('configs/imagenet_shvit_s4.py',
DST)``; its backbone part also serves ``init_cfg=dict(type='Pretrained', ...)``
in detection and segmentation configs (the backbone loader reads any layout).
"""
import argparse
import os.path as osp
import sys

from mmhybrid.apis import add_trust_arg, apply_trust_arg, run_cli, save_atomic
from mmhybrid.models.utils import read_state_dict
from mmhybrid.models.utils.ckpt_convert import shvit_layout, shvit_to_mmpretrain


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official or timm SHViT checkpoint')
    parser.add_argument('dst', help='where to save the mmhybrid checkpoint')
    parser.add_argument('--force', action='store_true',
                        help='overwrite DST if it exists')
    add_trust_arg(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    if osp.exists(args.dst) and not args.force:
        raise FileExistsError(f'{args.dst!r} exists; pass --force to '
                              f'overwrite it')
    with apply_trust_arg(args, args.src):
        state_dict = read_state_dict(args.src)
    layout = shvit_layout(state_dict)
    converted = shvit_to_mmpretrain(state_dict)
    if not any(k.startswith('backbone.patch_embed.') for k in converted):
        raise ValueError(f'{args.src!r} does not look like an SHViT '
                         f'checkpoint (no patch_embed weights)')
    # a temporary file renamed over DST: a failed write keeps the old DST
    save_atomic({'state_dict': converted,
                 'meta': {'converted_from': osp.abspath(args.src),
                          'source_layout': layout}}, args.dst)
    print(f'Converted {len(converted)} tensors ({layout} layout) from '
          f'{args.src} to {args.dst}')


if __name__ == '__main__':
    sys.exit(run_cli(main, osp.basename(__file__)))
