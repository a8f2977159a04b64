"""Train a detector, segmentor or classifier from an mmhybrid config
(same flags as mmdet/mmseg ``tools/train.py``; library:
:func:`mmhybrid.apis.prepare_training` and :func:`mmhybrid.apis.train`)."""
import argparse
import sys

from mmhybrid.apis import (add_common_args, apply_trust_arg, config_task,
                           load_config, parse_common_args, prepare_training,
                           run_cli, train)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic-mixed-precision training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the LR by the actual batch size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or (no value) from the '
        'latest checkpoint in the work directory')
    add_common_args(parser)
    return parse_common_args(parser)


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.work_dir,
                      args.launcher, args.allow_partial_load)
    trusted = prepare_training(cfg, args.amp, args.auto_scale_lr,
                               args.resume)
    print(f'Training a {config_task(cfg)} model; outputs go to '
          f'{cfg.work_dir}')
    # --trust-checkpoint: the files this run resumes or starts from
    with apply_trust_arg(args, *trusted):
        train(cfg)


if __name__ == '__main__':
    sys.exit(run_cli(main, 'tools/train.py'))
