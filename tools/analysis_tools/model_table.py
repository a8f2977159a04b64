"""Measure params and FLOPs of the ImageNet classifiers and (optionally)
rewrite the README's model table with them.

    python tools/analysis_tools/model_table.py              # print the table
    python tools/analysis_tools/model_table.py --update-readme

FLOPs are counted by mmengine's analyzer (one multiply-add = one FLOP) at the
config's test resolution; params include the classification head.
"""
import argparse
import glob
import os.path as osp
import re

from mmhybrid.apis import (build_model, count_complexity, load_config,
                           test_resolution)

# the repository: configs/imagenet_*.py and README.md
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

START, END = '<!-- MODEL TABLE START -->', '<!-- MODEL TABLE END -->'


def measure(config):
    cfg = load_config(config)
    res = test_resolution(cfg)
    params, flops = count_complexity(build_model(cfg), (3, res, res))
    return dict(config=osp.relpath(config, ROOT), res=res, params=params,
                flops=flops, top1=cfg.get('published_top1'))


def markdown(rows):
    lines = ['| config | input | params | FLOPs | published top-1 |',
             '|---|---|---|---|---|']
    for r in rows:
        top1 = '-' if r['top1'] is None else f"{r['top1']}"
        lines.append(f"| `{r['config']}` | {r['res']} | "
                     f"{r['params'] / 1e6:.2f}M | {r['flops'] / 1e6:.0f}M | "
                     f'{top1} |')
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='*',
                        help='classification configs (default: '
                        'configs/imagenet_*.py)')
    parser.add_argument('--update-readme', action='store_true')
    args = parser.parse_args()
    configs = args.configs or sorted(
        glob.glob(osp.join(ROOT, 'configs', 'imagenet_*.py')))
    if not configs:
        raise SystemExit('no configs found')
    rows = [measure(c) for c in configs]
    table = markdown(rows)
    print(table)
    if args.update_readme:
        path = osp.join(ROOT, 'README.md')
        text = open(path, encoding='utf-8').read()
        if START not in text or END not in text:
            raise SystemExit(f'README.md lacks the markers {START} / {END}')
        note = ('Measured by `python tools/analysis_tools/model_table.py '
                '--update-readme` (mmengine FLOP counter, one multiply-add = '
                'one FLOP; params include the 1000-class head).')
        text = re.sub(f'{START}.*{END}',
                      f'{START}\n{note}\n\n{table}\n{END}', text,
                      flags=re.S)
        open(path, 'w', encoding='utf-8').write(text)
        print(f'updated {path}')


if __name__ == '__main__':
    main()
