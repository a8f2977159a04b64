"""Measure params and FLOPs of the ImageNet classifiers and (optionally)
rewrite the README's model table with them; with ``--recipes``, the README's
"Recipes" table instead (from the metafiles' recipe cards; no measurement).

    python tools/analysis_tools/model_table.py              # print the table
    python tools/analysis_tools/model_table.py --update-readme
    python tools/analysis_tools/model_table.py --recipes --update-readme

FLOPs are counted by mmengine's analyzer (one multiply-add = one FLOP) at the
config's test resolution; params include the classification head (library:
:mod:`mmhybrid.analysis.complexity`).
"""
import argparse
import os.path as osp

from mmhybrid.analysis import (MODEL_TABLE_MARKERS, RECIPES_MARKERS,
                               classifier_configs, measure_config,
                               model_table_markdown, recipes_markdown,
                               replace_between)

# the repository: configs/imagenet_*.py and README.md
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def update_readme(markers, text):
    try:
        path = replace_between(osp.join(ROOT, 'README.md'), markers, text)
    except ValueError as e:
        raise SystemExit(str(e))
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
            update_readme(RECIPES_MARKERS, table)
        return
    configs = args.configs or classifier_configs(ROOT)
    if not configs:
        raise SystemExit('no configs found')
    table = model_table_markdown([measure_config(c, ROOT) for c in configs])
    print(table)
    if args.update_readme:
        note = ('Measured by `python tools/analysis_tools/model_table.py '
                '--update-readme` (mmengine FLOP counter, one multiply-add = '
                'one FLOP; params include the 1000-class head).')
        update_readme(MODEL_TABLE_MARKERS, f'{note}\n\n{table}')


if __name__ == '__main__':
    main()
