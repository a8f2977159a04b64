"""Every GA classifier config builds with the GA paper's parameter count
(within 3%) and runs at 224, 256 and an odd size."""
import os.path as osp

import pytest
import torch

from mmhybrid.deploy.onnx import randomize_norms
from tests import ROOT

# the GA seed's table (Imagenet-models README), millions of parameters
PAPER_PARAMS = {
    'resnet50': 41.3,
    'vit_s': 27.7,
    'convnext_t': 48.7,
    'convnext_s': 70.4,
    'convnext_b': 124.3,
    'cswin_t': 42.0,
    'cswin_s': 54.3,
}
# The official GA-CSWin-T (tests/data/reference, layout ga_cswin_t), which
# ours equals output for output, has 43.37M parameters: 3.3% above the
# table. GA-CSWin keeps the 4% of test_ga_head.py; the others 3%.
TOLERANCE = dict(cswin_t=0.04, cswin_s=0.04)


@pytest.mark.parametrize('name', list(PAPER_PARAMS))
def test_ga_config_size_and_any_input_size(name):
    from mmhybrid.apis import build_model
    model = build_model(
        osp.join(ROOT, 'configs', f'imagenet_ga_{name}.py'))
    n = sum(p.numel() for p in model.parameters()) / 1e6
    print(f'GA-{name}: {n:.2f}M params, paper {PAPER_PARAMS[name]}M')
    assert abs(n - PAPER_PARAMS[name]) <= TOLERANCE.get(name, 0.03) * \
        PAPER_PARAMS[name]
    for size in ((224, 224), (256, 256), (233, 251)):
        with torch.no_grad():
            logits = model(torch.randn(1, 3, *size), mode='tensor')
        assert logits.shape == (1, 1000)
        assert torch.isfinite(logits).all()


@pytest.mark.parametrize('name', ['resnet50', 'vit_s'])
def test_block_taps_backbones_deploy_to_the_same_function(name):
    """MMPretrain's ResNet (BNs folded, taps still recorded) and ViT in
    BlockTaps switch to their deploy form; the logits stay."""
    import torch.nn as nn

    from mmhybrid.apis import build_model
    from mmhybrid.deploy import switch_to_deploy
    model = build_model(
        osp.join(ROOT, 'configs', f'imagenet_ga_{name}.py'))
    assert randomize_norms(model) > 0  # non-trivial BN statistics
    x = torch.randn(2, 3, 96, 112)
    with torch.no_grad():
        ref = model(x, mode='tensor')
        assert switch_to_deploy(model) == ['BlockTaps', 'GAHead']
        out = model(x, mode='tensor')
    assert model.backbone.deploy
    assert not any(type(m) is nn.Conv2d for m in model.backbone.modules())
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
