"""Params and FLOPs of a model from a config, or of a bare backbone, with
mmengine's analyzer (one multiply-add = one FLOP), at a given input shape.

    python tools/analysis_tools/get_flops.py configs/imagenet_shvit_s1.py
    python tools/analysis_tools/get_flops.py --backbone SHViT \
        --arch s1 s2 s3 s4 --shape 224
    python tools/analysis_tools/get_flops.py configs/retinanet_shvit_s1_coco.py \
        --shape 800 1333

Counted in eval mode on CPU; ``--deploy`` counts the fused model (BN folded
into convolutions: fewer params, and the BNs' FLOPs gone). The count is
the one ``tools/analysis_tools/model_table.py`` writes into the README
(library: :mod:`mmhybrid.analysis.complexity`).
"""
import argparse
import os.path as osp

from mmengine.config import DictAction

from mmhybrid.analysis import (complexity_report, config_input_size,
                               measure_complexity)
from mmhybrid.apis import add_backbone_args, build_model, load_config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Get params and FLOPs')
    p.add_argument('config', nargs='?', help='model config')
    add_backbone_args(p, arch=False, help='a bare backbone')
    p.add_argument('--arch', nargs='+', default=[None],
                   help='arch(s) of --backbone')
    p.add_argument('--shape', type=int, nargs='+', default=None,
                   help='input H [W] (default: config test resolution, '
                   'else 224)')
    p.add_argument('--batch-size', type=int, default=1,
                   help='FLOPs are reported for this many images')
    p.add_argument('--deploy', action='store_true',
                   help='count the fused (switch_to_deploy) model')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)
    if bool(args.config) == bool(args.backbone):
        p.error('give a config or --backbone (one of them)')
    if args.shape is not None and len(args.shape) not in (1, 2):
        p.error('--shape takes H or H W')
    return args


def main(argv=None):
    args = parse_args(argv)
    rows = []
    if args.backbone:
        hw = config_input_size(None, args.shape or [224])
        for arch in args.arch:
            model = build_model(backbone=args.backbone, arch=arch)
            rows.append((args.backbone + (f'-{arch}' if arch else ''),
                         measure_complexity(model, hw, args.deploy,
                                            args.batch_size)))
    else:
        cfg = load_config(args.config, args.cfg_options)
        rows.append((osp.splitext(osp.basename(args.config))[0],
                     measure_complexity(build_model(cfg),
                                        config_input_size(cfg, args.shape),
                                        args.deploy, args.batch_size)))
    print(complexity_report(rows, args.batch_size))
    return rows


if __name__ == '__main__':
    main()
