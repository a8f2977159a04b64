"""Convert an official GA-ConvNeXt classifier checkpoint into mmhybrid's.

The source is the official ``GA/ga_convnext.py`` classifier (timm's ConvNeXt
layout; weights at the top level or under 'state_dict_ema', 'state_dict',
'model' or 'model_ema'); the result is an mmhybrid MMPretrain classifier
checkpoint.

    python tools/model_converters/ga_convnext_to_mmhybrid.py \
        ga_convnext_tiny_688.pth checkpoints/ga_convnext_t_mmhybrid.pth

The result loads with
``mmpretrain.apis.init_model('configs/imagenet_ga_convnext_t.py', DST)``; its
``backbone.backbone.*`` part is MMPretrain's ConvNeXt (detection and
segmentation configs load it with ``init_cfg=dict(type='Pretrained',
checkpoint=DST, prefix='backbone.backbone.')``). The key mapping is
:func:`mmhybrid.models.utils.ga_convnext_to_mmpretrain`.
"""
import argparse
import os.path as osp
import sys

from mmhybrid.apis import add_trust_arg, apply_trust_arg, run_cli, save_atomic
from mmhybrid.models.utils import (ga_convnext_layout,
                                   ga_convnext_to_mmpretrain, read_state_dict)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official GA-ConvNeXt checkpoint')
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
    layout = ga_convnext_layout(state_dict)
    if layout is None:
        raise ValueError(
            f'{args.src!r} does not look like a GA-ConvNeXt classifier '
            f'checkpoint (no stem.* and gram_embedding.* keys). Plain '
            f'ConvNeXt checkpoints need no conversion: load them with '
            f'MMPretrain\'s ConvNeXt init_cfg.')
    converted = ga_convnext_to_mmpretrain(state_dict)
    unknown = [k for k in converted
               if not k.startswith(('backbone.', 'head.'))]
    if unknown:
        print(f'Warning: {len(unknown)} keys belong to neither the backbone '
              f'nor the GA head and are kept unchanged: '
              f'{", ".join(unknown)}', file=sys.stderr)
    # a temporary file renamed over DST: a failed write keeps the old DST
    save_atomic({'state_dict': converted,
                 'meta': {'converted_from': osp.abspath(args.src),
                          'source_layout': layout}}, args.dst)
    print(f'Converted {len(converted)} tensors ({layout} layout) from '
          f'{args.src} to {args.dst}')


if __name__ == '__main__':
    sys.exit(run_cli(main, osp.basename(__file__)))
