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

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
START, END = '<!-- MODEL TABLE START -->', '<!-- MODEL TABLE END -->'


class _Logits(torch.nn.Module):
    """``model(x, mode='tensor')`` as a plain forward for the counter."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, mode='tensor')


def test_resolution(cfg):
    """The square input size of the config's test pipeline."""
    size = None
    for t in cfg.test_dataloader.dataset.pipeline:
        for key in ('crop_size', 'scale'):
            if key in t:
                v = t[key]
                size = v if isinstance(v, int) else max(v)
    if size is None:
        raise ValueError('no crop_size/scale in the test pipeline')
    return size


def measure(config):
    import mmhybrid.models  # noqa: F401
    from mmpretrain.registry import MODELS
    from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(config)
    model = MODELS.build(cfg.model).eval()
    res = test_resolution(cfg)
    params = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        flops = get_model_complexity_info(_Logits(model),
                                          input_shape=(3, res, res),
                                          show_table=False,
                                          show_arch=False)['flops']
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
