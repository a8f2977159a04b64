"""Measure params and FLOPs of the ImageNet classifiers and (optionally)
rewrite the README's model table with them; with ``--recipes``, the README's
"Recipes" table instead (from the metafiles' recipe cards; no measurement).

    python tools/analysis_tools/model_table.py              # print the table
    python tools/analysis_tools/model_table.py --update-readme
    python tools/analysis_tools/model_table.py --recipes --update-readme

FLOPs are counted by mmengine's analyzer (one multiply-add = one FLOP) at the
config's test resolution; params include the classification head.
"""
import argparse
import glob
import os.path as osp
import re

from mmhybrid.apis import (build_model, count_complexity, load_config,
                           test_resolution)
from mmhybrid.engine.model_index import recipe_cards

# the repository: configs/imagenet_*.py and README.md
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

START, END = '<!-- MODEL TABLE START -->', '<!-- MODEL TABLE END -->'
RECIPES_START, RECIPES_END = '<!-- RECIPES START -->', '<!-- RECIPES END -->'


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


def recipes_markdown():
    """One row per recipe card: config, upstream number, upstream source,
    status."""
    lines = ['| config | upstream number | upstream source | status |',
             '|---|---|---|---|']
    for _, config, results, card in recipe_cards():
        number = '; '.join(
            ', '.join(f'{k} {v}' for k, v in r['Metrics'].items())
            for r in results) or '-'
        status = card['Status'].replace('|', '/')
        lines.append(f"| `{config}` | {number} | `{card['Upstream']}` | "
                     f'{status} |')
    return '\n'.join(lines)


def update_readme(start, end, text):
    path = osp.join(ROOT, 'README.md')
    readme = open(path, encoding='utf-8').read()
    if start not in readme or end not in readme:
        raise SystemExit(f'README.md lacks the markers {start} / {end}')
    readme = re.sub(f'{start}.*{end}', lambda _: f'{start}\n{text}\n{end}',
                    readme, flags=re.S)
    open(path, 'w', encoding='utf-8').write(readme)
    print(f'updated {path}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='*',
                        help='classification configs (default: '
                        'configs/imagenet_*.py)')
    parser.add_argument('--update-readme', action='store_true')
    parser.add_argument('--recipes', action='store_true',
                        help='the Recipes table (recipe cards) instead')
    args = parser.parse_args()
    if args.recipes:
        table = recipes_markdown()
        print(table)
        if args.update_readme:
            update_readme(RECIPES_START, RECIPES_END, table)
        return
    configs = args.configs or sorted(
        glob.glob(osp.join(ROOT, 'configs', 'imagenet_*.py')))
    if not configs:
        raise SystemExit('no configs found')
    rows = [measure(c) for c in configs]
    table = markdown(rows)
    print(table)
    if args.update_readme:
        note = ('Measured by `python tools/analysis_tools/model_table.py '
                '--update-readme` (mmengine FLOP counter, one multiply-add = '
                'one FLOP; params include the 1000-class head).')
        update_readme(START, END, f'{note}\n\n{table}')


if __name__ == '__main__':
    main()
