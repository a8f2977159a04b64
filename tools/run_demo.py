"""The mmhybrid demo: generate the synthetic toy data, train Mask R-CNN and
Semantic FPN with an SHViT-S1 backbone from scratch on CPU, test both and
print a summary of the metrics read back from the test results (library:
:mod:`mmhybrid.analysis.demo`).

Every step goes through the project's own front doors
(:func:`mmhybrid.testing.make_toy_data`, ``tools/train.py``,
``tools/test.py``, ``tools/inference.py``). The summary ends with::

    bbox_mAP: <value>
    segm_mAP: <value>
    mIoU: <value>

followed by where the checkpoints, logs and loss-curve PNGs are, and the
prediction pictures ``tools/inference.py`` drew with the trained checkpoint
for a few val images (``<work_dir>/predictions/*.png``).

Example::

    python tools/run_demo.py                # the full demo (`make demo`)
    python tools/run_demo.py --quick --out-dir /tmp/demo   # pipeline check
"""
import argparse
import os.path as osp
import sys
import time

from mmhybrid.analysis import (DEMO_JOBS, DemoError, check_jobs,
                               demo_summary, flat_metrics, run_demo,
                               toy_configs, write_demo_summary)

# the repository: the tools and configs run from it (mmhybrid itself is
# installed, see `make install`)
REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))


def parse_args(families):
    parser = argparse.ArgumentParser(
        description='Generate toy data, train and test a demo detector '
        'and segmentor (SHViT by default) on CPU, and summarise the results.')
    parser.add_argument('--out-dir', default='work_dirs/demo',
                        help='where work dirs (checkpoints, logs, loss '
                        'curves) and the summary go')
    parser.add_argument('--data-dir', default=None,
                        help='toy data folder (default: data/toy, or '
                        '<out-dir>/data with --quick)')
    parser.add_argument('--quick', action='store_true',
                        help='tiny data and a few iterations: checks the '
                        'pipeline, not learning')
    parser.add_argument('--family', choices=sorted(families),
                        default='shvit',
                        help='backbone family whose toy configs run')
    parser.add_argument('--only', nargs='+', choices=sorted(DEMO_JOBS),
                        default=sorted(DEMO_JOBS), help='run only these jobs')
    parser.add_argument('--no-check', action='store_true',
                        help='do not fail when a metric is not above 0')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the toy data')
    args = parser.parse_args()
    problem = check_jobs(families, args.family, args.only)
    if problem:
        parser.error(problem)
    args.configs = families[args.family]
    return args


def main():
    args = parse_args(toy_configs(REPO))
    start = time.time()
    try:
        results, metrics = run_demo(
            REPO, args.configs, args.only, args.out_dir, args.data_dir,
            args.quick, args.seed)
    except DemoError as e:
        print(f'\nDEMO FAILED: {e}', file=sys.stderr, flush=True)
        return 1
    elapsed = time.time() - start
    text = demo_summary(results, metrics, elapsed)
    print(text, flush=True)
    write_demo_summary(args.out_dir, text, results, metrics, elapsed,
                       args.quick)
    if not args.quick and not args.no_check:
        flat = flat_metrics(metrics)
        if flat:
            print(f'\nDEMO FAILED: {", ".join(flat)} not above 0: the '
                  'models did not learn', file=sys.stderr)
            return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
