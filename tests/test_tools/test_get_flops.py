"""get_flops.py reports what mmengine's counter gives for the same model."""
import os.path as osp
import re
import subprocess
import sys

import torch
from mmengine.analysis import get_model_complexity_info

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_get_flops_backbone_matches_mmengine():
    r = subprocess.run(
        [sys.executable, 'tools/analysis_tools/get_flops.py', '--backbone',
         'SHViT', '--arch', 's1', '--shape', '64'],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    flops = int(re.search(r'GFLOPs \((\d+)\)', r.stdout).group(1))
    params = int(re.search(r'Params: [\d.]+ M \((\d+)\)', r.stdout).group(1))

    import mmhybrid.models  # noqa: F401
    from mmhybrid.models import SHViT
    model = SHViT(arch='s1').eval()
    with torch.no_grad():
        info = get_model_complexity_info(model, input_shape=(3, 64, 64),
                                         show_table=False, show_arch=False)
    assert flops == info['flops']
    assert params == info['params'] == sum(
        p.numel() for p in model.parameters())


def test_get_flops_config_matches_model_table():
    from mmhybrid.apis import build_model, count_complexity
    r = subprocess.run(
        [sys.executable, 'tools/analysis_tools/get_flops.py',
         'configs/imagenet_shvit_s1.py', '--shape', '64'],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    flops = int(re.search(r'GFLOPs \((\d+)\)', r.stdout).group(1))
    params = int(re.search(r'Params: [\d.]+ M \((\d+)\)', r.stdout).group(1))
    model = build_model(osp.join(ROOT, 'configs/imagenet_shvit_s1.py'))
    assert (params, flops) == count_complexity(model, (3, 64, 64))
