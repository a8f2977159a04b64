"""List mmhybrid's model index: what ``mim search mmhybrid`` shows, without
openmim and with any install (``make install``'s editable one included).

    python tools/misc/model_index.py                # every entry
    python tools/misc/model_index.py 'shvit*'       # fnmatch, or a substring
    python tools/misc/model_index.py --weights      # the released files only

Each entry: name, published results, parameters, FLOPs, config and the
upstream weights URL (fetch it with ``wget -P checkpoints/ URL``; library:
:func:`mmhybrid.apis.search_models`)."""
import argparse
import sys

from mmhybrid.apis import run_cli, search_models


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('pattern', nargs='?', default=None,
                        help="model name pattern, e.g. 'shvit*' or ga-cswin")
    parser.add_argument('--weights', action='store_true',
                        help='only the entries with released upstream weights')
    return parser.parse_args(argv)


def _size(value, unit):
    return '-' if value is None else f'{value / 1e6:.2f}{unit}'


def main(argv=None):
    args = parse_args(argv)
    rows = search_models(args.pattern)
    if args.weights:
        rows = [r for r in rows if r['weights']]
    if not rows:
        raise SystemExit(f'no entry of the model index matches '
                         f'{args.pattern!r}')
    for r in rows:
        print(r['name'])
        print(f'  results: {"; ".join(r["results"]) or "none published"}')
        print(f'  params: {_size(r["params"], "M")}, FLOPs: '
              f'{_size(r["flops"], "M")}, config: {r["config"]}')
        print(f'  weights: {r["weights"] or "none released"}')
    print(f'{len(rows)} entries')


if __name__ == '__main__':
    sys.exit(run_cli(main, 'tools/misc/model_index.py'))
