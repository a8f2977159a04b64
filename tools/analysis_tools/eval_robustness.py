"""FGSM / PGD robustness of an mmhybrid classifier on its config's test set.

    python tools/analysis_tools/eval_robustness.py CONFIG CHECKPOINT \
        --eps 0 1/255 2/255 4/255 --attack fgsm pgd --pgd-steps 10 \
        [--pgd-alpha 0.25] [--max-images N] [--out-dir DIR]

Attacks in pixel space with L-inf budgets ``eps`` (fractions of [0, 255]);
worst-case robust top-1 (correct clean and at every iterate). Writes to
``--out-dir`` (default ``work_dirs/robustness/<config name>``):
``robustness.json``, ``robustness_curve.png`` and (unless
``--no-attention-figure``) ``attention_disruption.png``: the model's
attention maps of one image before vs after the strongest attack. The
method: :mod:`mmhybrid.apis.robustness`.
"""
import argparse

from mmengine.config import DictAction

from mmhybrid.apis import eval_robustness, parse_eps, robustness_table


def _eps(text):
    try:
        return parse_eps(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='classification config')
    p.add_argument('checkpoint', help='checkpoint file')
    p.add_argument('--eps', type=_eps, nargs='+',
                   default=[0, 1 / 255, 2 / 255, 4 / 255, 8 / 255],
                   help='L-inf budgets as fractions of [0, 255] '
                   '(e.g. 0 1/255 2/255)')
    p.add_argument('--attack', nargs='+', choices=['fgsm', 'pgd'],
                   default=['fgsm', 'pgd'])
    p.add_argument('--pgd-steps', type=int, default=10)
    p.add_argument('--pgd-alpha', type=float, default=None,
                   help='PGD step as a fraction of eps (default 2.5/steps)')
    p.add_argument('--max-images', type=int, default=None,
                   help='evaluate at most this many test images')
    p.add_argument('--batch-size', type=int, default=None,
                   help='override the test dataloader batch size')
    p.add_argument('--out-dir', help='output folder')
    p.add_argument('--no-attention-figure', dest='attention_figure',
                   action='store_false')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='key=value config overrides')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    results = eval_robustness(
        args.config, args.checkpoint, eps=args.eps, attacks=args.attack,
        pgd_steps=args.pgd_steps, pgd_alpha=args.pgd_alpha,
        max_images=args.max_images, batch_size=args.batch_size,
        out_dir=args.out_dir, attention_figure=args.attention_figure,
        seed=args.seed, cfg_options=args.cfg_options)
    print(robustness_table(results))
    written = results['written']
    if args.attention_figure and max(args.eps) > 0 and not any(
            p.endswith('attention_disruption.png') for p in written):
        print('no attention map captured: no attention figure')
    print('wrote:\n  ' + '\n  '.join(written))
    return results


if __name__ == '__main__':
    main()
