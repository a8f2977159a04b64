"""Params and FLOPs (mmengine's analyzer: one multiply-add = one FLOP) of
models, and the README's model and recipes tables built from them."""
import glob
import os.path as osp
import re

from mmhybrid.apis import (build_model, count_complexity, load_config,
                           test_resolution)
from mmhybrid.engine.model_index import recipe_cards
from mmhybrid.deploy import switch_to_deploy

__all__ = ['measure_complexity', 'config_input_size', 'complexity_report',
           'classifier_configs', 'measure_config', 'model_table_markdown',
           'recipes_markdown', 'replace_between', 'MODEL_TABLE_MARKERS',
           'RECIPES_MARKERS']

MODEL_TABLE_MARKERS = ('<!-- MODEL TABLE START -->',
                       '<!-- MODEL TABLE END -->')
RECIPES_MARKERS = ('<!-- RECIPES START -->', '<!-- RECIPES END -->')


def measure_complexity(model, hw, deploy=False, batch_size=1):
    """Params and FLOPs of ``model`` (eval mode, CPU) on a 3 x H x W input;
    FLOPs for ``batch_size`` images; ``deploy``: of the deploy form (BN
    folded: fewer params, and the BNs' FLOPs gone)."""
    if deploy:
        switch_to_deploy(model)
    params, flops = count_complexity(model, (3, *hw))
    return dict(params=params, flops=flops * batch_size, shape=list(hw),
                batch_size=batch_size, deploy=deploy)


def config_input_size(cfg, shape=None):
    """``(h, w)``: ``shape`` (H or H, W), else the config's test
    resolution, else 224 (dense configs without one)."""
    if shape:
        return (shape[0], shape[-1])
    try:
        r = test_resolution(cfg)
    except Exception:  # noqa: BLE001
        r = 224
    return (r, r)


def complexity_report(rows, batch_size=1):
    """The printed report of ``[(name, measure_complexity(...))]``."""
    split = '=' * 40
    lines = []
    for name, r in rows:
        lines.append(f"{split}\n{name}  input shape: {batch_size}x3x"
                     f"{r['shape'][0]}x{r['shape'][1]}"
                     f"{'  (deploy)' if r['deploy'] else ''}\n"
                     f"Flops: {r['flops'] / 1e9:.4f} GFLOPs ({r['flops']})\n"
                     f"Params: {r['params'] / 1e6:.4f} M ({r['params']})")
    lines.append(split)
    return '\n'.join(lines)


def classifier_configs(root):
    """The ImageNet classifier configs of a checkout: ``configs/imagenet_*.py``
    under ``root``, sorted."""
    return sorted(glob.glob(osp.join(root, 'configs', 'imagenet_*.py')))


def measure_config(config, root=None):
    """Params and FLOPs of a classifier config at its test resolution
    (params include the head); ``config`` is shown relative to ``root``."""
    cfg = load_config(config)
    res = test_resolution(cfg)
    params, flops = count_complexity(build_model(cfg), (3, res, res))
    shown = osp.relpath(config, root) if root else config
    return dict(config=shown, res=res, params=params, flops=flops,
                top1=cfg.get('published_top1'))


def model_table_markdown(rows):
    """The README's model table of :func:`measure_config` rows."""
    lines = ['| config | input | params | FLOPs | published top-1 |',
             '|---|---|---|---|---|']
    for r in rows:
        top1 = '-' if r['top1'] is None else f"{r['top1']}"
        lines.append(f"| `{r['config']}` | {r['res']} | "
                     f"{r['params'] / 1e6:.2f}M | {r['flops'] / 1e6:.0f}M | "
                     f'{top1} |')
    return '\n'.join(lines)


def recipes_markdown():
    """One row per recipe card of the metafiles: config, upstream number,
    upstream source, status."""
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


def replace_between(path, markers, text):
    """Replace what lies between the two ``markers`` in the file ``path``
    with ``text``; ``ValueError`` naming the markers where it lacks them."""
    start, end = markers
    with open(path, encoding='utf-8') as f:
        content = f.read()
    if start not in content or end not in content:
        raise ValueError(f'{osp.basename(path)} lacks the markers {start} / '
                         f'{end}')
    content = re.sub(f'{re.escape(start)}.*{re.escape(end)}',
                     lambda _: f'{start}\n{text}\n{end}', content, flags=re.S)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(content)
    return path
