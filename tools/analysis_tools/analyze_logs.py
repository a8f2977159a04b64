"""Plot training curves and time training from mmengine's JSON logs
(``<work_dir>/<timestamp>/vis_data/scalars.json``; library:
:mod:`mmhybrid.analysis.logs`).

    python tools/analysis_tools/analyze_logs.py plot_curve LOG.json \\
        [LOG2.json ...] --keys loss lr --legend run1 run2 --out curves.png
    python tools/analysis_tools/analyze_logs.py cal_train_time LOG.json

A LOG may also be a run directory (``<work_dir>/<timestamp>``) or a work dir
(its latest run with a ``vis_data/scalars.json`` is used). Each key gets its
own panel; every log is one line in it.
"""
import argparse
import sys

from mmhybrid.analysis import (LogError, cal_train_time, plot_curve,
                               train_time_report)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Analyze mmengine JSON logs')
    sub = parser.add_subparsers(dest='task', required=True)
    p = sub.add_parser('plot_curve', help='plot loss/metric/lr curves')
    p.add_argument('json_logs', nargs='+',
                   help='vis_data/scalars.json files (or run/work dirs)')
    p.add_argument('--keys', nargs='+', default=['loss'],
                   help='keys to plot, e.g. loss lr coco/bbox_mAP mIoU')
    p.add_argument('--title', help='figure title')
    p.add_argument('--legend', nargs='+',
                   help='one name per log and key (log-major order)')
    p.add_argument('--backend', help='matplotlib backend (default Agg with '
                   '--out)')
    p.add_argument('--style', default='whitegrid',
                   help='seaborn style of matplotlib (\'\' for default)')
    p.add_argument('--dpi', type=int, default=100)
    p.add_argument('--out', help='output PNG (shown on screen if omitted)')
    t = sub.add_parser('cal_train_time', help='time per training iteration')
    t.add_argument('json_logs', nargs='+',
                   help='vis_data/scalars.json files (or run/work dirs)')
    t.add_argument('--include-outliers', action='store_true',
                   help='keep the first record of every epoch')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.task == 'plot_curve':
            if args.backend:
                import matplotlib
                matplotlib.use(args.backend)
            out = plot_curve(args.json_logs, args.keys, args.legend,
                             args.title, args.out, args.style, args.dpi)
            if out is not None:
                print(f'save curve to: {out}')
        else:
            for log in args.json_logs:
                (res, ) = cal_train_time([log], args.include_outliers)
                print('\n'.join(train_time_report(res)))
    except LogError as e:
        print(f'Error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
