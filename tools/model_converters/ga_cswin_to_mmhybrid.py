"""Convert a GA-CSWin classifier checkpoint (the upstream GA layout; weights
at the top level or under 'state_dict_ema', 'state_dict', 'model' or
'model_ema') into an mmhybrid MMPretrain classifier checkpoint.

    python tools/model_converters/ga_cswin_to_mmhybrid.py ga_cswin_t.pth \
        checkpoints/ga_cswin_t_mmhybrid.pth

The result loads with
``mmpretrain.apis.init_model('configs/imagenet_ga_cswin_t.py', DST)``; its
``backbone.*`` part also serves ``init_cfg=dict(type='Pretrained', ...)`` of
``CSWin`` in detection and segmentation configs. The key mapping is
:func:`mmhybrid.models.utils.ga_cswin_to_mmpretrain`.
"""
import argparse
import os.path as osp
import sys

from mmhybrid.apis import add_trust_arg, apply_trust_arg, run_cli, save_atomic
from mmhybrid.models.utils import (ga_cswin_layout, ga_cswin_to_mmpretrain,
                                   read_state_dict)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='GA-CSWin classifier checkpoint')
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
    layout = ga_cswin_layout(state_dict)
    if layout is None:
        raise ValueError(
            f'{args.src!r} does not look like a GA-CSWin classifier '
            f'checkpoint (no gram_embedding.* keys). Plain CSWin checkpoints '
            f'need no conversion: load them with CSWin\'s init_cfg.')
    converted = ga_cswin_to_mmpretrain(state_dict)
    if not any(k.startswith('backbone.stage1_conv_embed.')
               for k in converted):
        raise ValueError(f'{args.src!r} has GA head weights but no CSWin '
                         f'backbone (no stage1_conv_embed.* keys)')
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
