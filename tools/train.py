"""Train a detector, segmentor or classifier from an mmhybrid config
(same flags as mmdet/mmseg ``tools/train.py``)."""
import argparse
import os
import sys

from mmhybrid.apis import (add_common_args, apply_trust_arg, build_runner,
                           check_coco_annotations, check_data_roots,
                           check_writable, config_task, explain_errors,
                           load_config,
                           parse_common_args, run_cli)


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
    if args.amp:  # keeps a wrapper's policy (AGC -> its AMP variant)
        from mmhybrid.engine import amp_wrapper_type
        cfg.optim_wrapper.type = amp_wrapper_type(
            cfg.optim_wrapper.get('type'))
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise RuntimeError('--auto-scale-lr needs auto_scale_lr.'
                               'base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not os.path.isfile(args.resume):
            raise FileNotFoundError(
                f'--resume checkpoint not found: {args.resume!r}')
        cfg.resume = True
        cfg.load_from = args.resume
    check_data_roots(cfg, 'train_dataloader',
                     *(['val_dataloader'] if cfg.get('val_cfg') else []))
    if cfg.get('val_cfg'):
        check_coco_annotations(cfg, 'val_dataloader')
    check_writable(cfg.work_dir, 'the work dir (--work-dir)', is_dir=True)
    print(f'Training a {config_task(cfg)} model; outputs go to '
          f'{cfg.work_dir}')
    # --trust-checkpoint: the files this run resumes or starts from
    trusted = [cfg.get('load_from')]
    if args.resume == 'auto':
        from mmhybrid.engine import find_resumable_checkpoint
        trusted.append(find_resumable_checkpoint(cfg.work_dir))
    with apply_trust_arg(args, *trusted):
        runner = build_runner(cfg)
        with explain_errors(cfg, ('train_dataloader', 'val_dataloader')):
            runner.train()


if __name__ == '__main__':
    sys.exit(run_cli(main, 'tools/train.py'))
