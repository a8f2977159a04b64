"""mmhybrid.analysis.complexity: params/FLOPs as mmengine counts them, and
the README table writer."""
import pytest
import torch
from mmengine.analysis import get_model_complexity_info

from mmhybrid.analysis import (complexity_report, config_input_size,
                               measure_complexity, model_table_markdown,
                               replace_between)
from mmhybrid.apis import build_model


def test_measure_complexity_is_mmengine_count_times_batch():
    model = build_model(backbone='SHViT', arch='s1')
    r = measure_complexity(model, (64, 96), batch_size=3)
    info = get_model_complexity_info(
        model, inputs=(torch.randn(1, 3, 64, 96), ), show_table=False,
        show_arch=False)
    assert r['flops'] == 3 * info['flops'] and r['params'] == info['params']
    assert r['shape'] == [64, 96] and not r['deploy']
    fused = measure_complexity(build_model(backbone='SHViT', arch='s1'),
                               (64, 96), deploy=True)
    # BNs folded away: fewer params, and no BN FLOPs (mmengine counts them)
    assert fused['deploy'] and fused['params'] < r['params']
    assert fused['flops'] < info['flops']
    text = complexity_report([('SHViT-s1', r)], batch_size=3)
    assert 'SHViT-s1  input shape: 3x3x64x96' in text
    assert f"Params: {r['params'] / 1e6:.4f} M ({r['params']})" in text


def test_config_input_size():
    assert config_input_size(None, [96]) == (96, 96)
    assert config_input_size(None, [96, 128]) == (96, 128)


def test_replace_between_markers(tmp_path):
    readme = tmp_path / 'README.md'
    readme.write_text('a\n<!-- S -->\nold\n<!-- E -->\nb\n')
    table = model_table_markdown([dict(config='configs/x.py', res=224,
                                       params=1.5e6, flops=2.5e8,
                                       top1=None)])
    replace_between(str(readme), ('<!-- S -->', '<!-- E -->'), table)
    assert readme.read_text() == (
        'a\n<!-- S -->\n| config | input | params | FLOPs | published top-1 |'
        '\n|---|---|---|---|---|\n| `configs/x.py` | 224 | 1.50M | 250M | - |'
        '\n<!-- E -->\nb\n')
    with pytest.raises(ValueError, match='lacks the markers <!-- X -->'):
        replace_between(str(readme), ('<!-- X -->', '<!-- E -->'), 't')
