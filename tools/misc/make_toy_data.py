"""Generate the deterministic synthetic toy datasets used by the demo.

Writes ``<out>/coco`` (COCO instance JSON + polygon masks),
``<out>/ade/ADEChallengeData2016`` (ADE20K layout, label PNGs) and
``<out>/imagenet`` (class folders). Running it again with the same
parameters does nothing; ``--force`` rebuilds.

Example::

    python tools/misc/make_toy_data.py --out data/toy
"""
import argparse
import time

from mmhybrid.testing import TOY_KINDS, make_toy_data


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='data/toy', help='output folder')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--only', nargs='+', choices=TOY_KINDS,
                        default=TOY_KINDS,
                        help='generate only these sets')
    parser.add_argument('--num-train', type=int, default=None,
                        help='train images of the coco and ade sets')
    parser.add_argument('--num-val', type=int, default=None,
                        help='val images of the coco and ade sets')
    parser.add_argument('--img-size', type=int, default=None,
                        help='side of the square coco and ade images')
    parser.add_argument('--force', action='store_true',
                        help='rebuild even if the stamp matches')
    return parser.parse_args()


def main():
    args = parse_args()
    det_seg = {}
    for key, value in (('num_train', args.num_train),
                       ('num_val', args.num_val),
                       ('img_size', args.img_size)):
        if value is not None:
            det_seg[key] = value
    start = time.time()
    results = make_toy_data(args.out, seed=args.seed, force=args.force,
                            coco=det_seg, ade=det_seg, kinds=args.only)
    for kind, info in results.items():
        state = 'generated' if info['generated'] else 'up to date'
        print(f'{kind:9s} {state:11s} {info["data_root"]}')
    print(f'done in {time.time() - start:.1f}s')


if __name__ == '__main__':
    main()
