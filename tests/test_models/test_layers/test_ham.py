"""HAM (the attention module, also as an MMDetection ResNet plugin) and the
HAM-ViT classifier: separation, shapes, registry, parameter count, training
on an image folder through tools/train.py."""
import glob
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import init_default_scope

from mmhybrid.engine.safe_load import safe_load
from mmhybrid.models import HAM, HAMViT
from mmhybrid.models.layers.ham import (ham_kernel_size,
                                        important_channel_count)

from tests import ROOT
# HAMViT('base'): backbone alone, and with GAP + the 3-layer FC head
# (StackedLinearClsHead 192 -> 256 -> 128 -> 10) of configs/hamvit_folder.py
HAMVIT_BACKBONE_PARAMS = 1_927_949
HAMVIT_10_CLASS_PARAMS = 2_011_543


def _identity_ham(channels, separation_rate):
    """A HAM whose sub-modules compute simple, hand-checkable functions:
    A_C = sigmoid(avg + max) per channel; A_S = sigmoid(relu(group mean))."""
    ham = HAM(channels, separation_rate=separation_rate,
              channel_kernel_size=3).eval()
    with torch.no_grad():
        ca, sa = ham.channel_attention, ham.spatial_attention
        ca.conv.weight.zero_()
        ca.conv.weight[0, 0, 1] = 1.  # identity over the channel axis
        ca.conv.bias.zero_()
        sa.conv.weight.zero_()
        sa.conv.weight[0, 0, 3, 3] = 1.  # centre tap of the mean map
    return ham


def test_separation_picks_top_lambda_channels_per_sample():
    # constant channels: avg = max = v, F_add = 0.5 * 2v + 0.5v + 0.5v = 2v
    values = torch.tensor([[0.1, 3., -1., 2.], [2., -1., 3., 0.1]])
    x = values[:, :, None, None].expand(2, 4, 3, 5).contiguous()
    ham = _identity_ham(4, separation_rate=0.5)
    assert ham.spatial_attention.num_important == 2
    a_c = ham.channel_attention(x)
    assert torch.allclose(a_c.flatten(1), torch.sigmoid(2 * values))
    mask = ham.spatial_attention.separation_mask(a_c).flatten(1)
    assert mask.tolist() == [[0, 1, 0, 1], [1, 0, 1, 0]]

    out = ham(x)
    bn_scale = 1 / math.sqrt(1 + ham.spatial_attention.bn.eps)
    fx = torch.sigmoid(2 * values) * values  # F' = A_C * F, (B, C)
    expected = torch.empty_like(values)
    for b in range(2):
        im = mask[b].bool()
        a_s1 = torch.sigmoid(torch.relu(fx[b][im].mean() * bn_scale))
        a_s2 = torch.sigmoid(torch.relu(fx[b][~im].mean() * bn_scale))
        expected[b] = torch.where(im, a_s1 * fx[b], a_s2 * fx[b])
    # the 7x7 conv pads with zeros, but only the centre tap is non-zero
    assert torch.allclose(out, expected[:, :, None, None].expand_as(out),
                          atol=1e-6)


def test_group_max_is_over_the_groups_own_channels():
    # sample 0: the sub-important group (channels 0, 2) is all negative, so
    # its max is negative (a max over the zero-masked tensor would give 0)
    values = torch.tensor([[-0.5, 3., -1., 2.]])
    x = values[:, :, None, None].expand(1, 4, 4, 4).contiguous()
    ham = _identity_ham(4, separation_rate=0.5)
    with torch.no_grad():
        ham.spatial_attention.conv.weight.zero_()
        ham.spatial_attention.conv.weight[0, 1, 3, 3] = -1.  # -max
    out = ham(x)
    bn_scale = 1 / math.sqrt(1 + ham.spatial_attention.bn.eps)
    fx = torch.sigmoid(2 * values[0]) * values[0]
    sub_max = max(fx[0], fx[2])
    assert sub_max < 0
    a_s2 = torch.sigmoid(torch.relu(-sub_max * bn_scale))
    assert torch.allclose(out[0, 0], a_s2 * fx[0], atol=1e-6)
    assert torch.allclose(out[0, 1], torch.full((4, 4), 0.5) * fx[1],
                          atol=1e-6)  # important max > 0: relu -> 0.5


@pytest.mark.parametrize('channels,rate,expected', [
    (64, 0.6, 38), (10, 0.5, 6), (128, 0.5, 64), (7, 0.6, 4), (5, 1.0, 5)])
def test_important_channel_count(channels, rate, expected):
    assert important_channel_count(channels, rate) == expected
    assert HAM(channels, separation_rate=rate).spatial_attention \
        .num_important == expected


def test_channel_kernel_follows_eca_rule():
    assert ham_kernel_size(64) == 3 and ham_kernel_size(256) == 5
    assert HAM(64).channel_attention.conv.kernel_size == (3, )
    assert HAM(2048).channel_attention.conv.kernel_size == (7, )


def test_separation_passes_no_gradient_but_channel_attention_learns():
    ham = HAM(16)
    x = torch.randn(2, 16, 6, 6, requires_grad=True)
    ham(x).sum().backward()
    ca = ham.channel_attention
    for p in (ca.alpha, ca.beta, ca.conv.weight, ham.spatial_attention.conv
              .weight):
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize('shape', [(2, 32, 8, 8), (1, 24, 7, 5),
                                   (3, 16, 1, 1), (2, 33, 13, 9)])
def test_map_input_shapes(shape):
    ham = HAM(shape[1])
    out = ham(torch.randn(shape))
    assert out.shape == shape and torch.isfinite(out).all()


def test_token_input_matches_map_input():
    ham = HAM(128, separation_rate=0.5).eval()  # the seed's example
    x = torch.randn(2, 128, 7, 9)
    tokens = x.flatten(2).transpose(1, 2)  # B, L, C row-major
    out_map = ham(x)
    out_tokens = ham(tokens, hw_shape=(7, 9))
    assert out_tokens.shape == (2, 63, 128)
    assert torch.allclose(out_tokens,
                          out_map.flatten(2).transpose(1, 2), atol=1e-6)
    # a square grid is inferred
    sq = torch.randn(2, 49, 128)
    assert torch.allclose(
        ham(sq), ham(sq, hw_shape=(7, 7)))
    with pytest.raises(ValueError, match='square'):
        ham(tokens)
    with pytest.raises(ValueError, match='does not match'):
        ham(tokens, hw_shape=(8, 8))
    with pytest.raises(ValueError, match='channels'):
        ham(torch.randn(1, 64, 4, 4))


def test_separation_rate_validated():
    with pytest.raises(ValueError):
        HAM(16, separation_rate=0.)
    assert HAM(16, separation_rate=0.3).separation_rate == 0.3


def test_registered_where_plugins_are_looked_up():
    from mmcv.cnn import build_plugin_layer
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
    for registry in (MMENGINE_MODELS, MMDET_MODELS, MMPRETRAIN_MODELS):
        assert registry.get('HAM') is HAM
    init_default_scope('mmdet')
    name, layer = build_plugin_layer(dict(type='HAM', separation_rate=0.5),
                                     in_channels=256, postfix='_1')
    assert name == 'ham_1' and isinstance(layer, HAM)
    assert layer.in_channels == 256


def test_ham_resnet_plugin_builds_and_trains_a_step():
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    resnet = MODELS.build(dict(
        type='ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3),
        norm_eval=False, plugins=[
            dict(cfg=dict(type='HAM', separation_rate=0.6),
                 stages=(False, True, True, True), position='after_conv3')
        ]))
    hams = {n: m for n, m in resnet.named_modules() if isinstance(m, HAM)}
    assert not any(n.startswith('layer1.') for n in hams)
    assert len(hams) == 4 + 6 + 3  # every bottleneck of stages 2-4
    assert hams['layer2.0.ham'].in_channels == 512
    assert hams['layer4.2.ham'].in_channels == 2048
    # a few hundred parameters each
    assert all(sum(p.numel() for p in m.parameters()) < 500
               for m in hams.values())

    resnet.train()
    optimizer = torch.optim.SGD(resnet.parameters(), lr=0.1)
    before = hams['layer3.0.ham'].channel_attention.conv.weight.clone()
    outs = resnet(torch.randn(2, 3, 64, 96))
    assert [o.shape[1] for o in outs] == [256, 512, 1024, 2048]
    loss = sum(o.mean() for o in outs)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert not torch.equal(
        before, hams['layer3.0.ham'].channel_attention.conv.weight)


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_hamvit_parameter_count():
    from mmpretrain.registry import MODELS
    backbone = HAMViT()
    assert _count(backbone) == HAMVIT_BACKBONE_PARAMS
    init_default_scope('mmpretrain')
    model = MODELS.build(dict(
        type='ImageClassifier', backbone=dict(type='HAMViT'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='StackedLinearClsHead', num_classes=10,
                  in_channels=192, mid_channels=[256, 128],
                  dropout_rate=0.3)))
    assert _count(model) == HAMVIT_10_CLASS_PARAMS  # "about 2M"
    assert 1.9e6 < _count(model) < 2.1e6


@pytest.mark.parametrize('size,grid', [(224, 14), (96, 6), (97, 6),
                                       ((75, 113), (5, 7))])
def test_hamvit_shapes(size, grid):
    h, w = (size, size) if isinstance(size, int) else size
    gh, gw = (grid, grid) if isinstance(grid, int) else grid
    model = HAMViT(out_indices=(0, 1)).eval()
    with torch.no_grad():
        feat0, feat1 = model(torch.randn(1, 3, h, w))
    assert feat0.shape == (1, 128, math.ceil(h / 8), math.ceil(w / 8))
    assert feat1.shape == (1, 192, gh, gw)
    assert model.out_channels == [128, 192]


@pytest.mark.slow
def test_toy_folder_training_writes_best_and_final_checkpoints(tmp_path):
    from mmhybrid.testing import make_toy_folder
    make_toy_folder(osp.join(ROOT, 'data', 'toy', 'hamvit'))
    env = dict(os.environ, OMP_NUM_THREADS='1', OMP_WAIT_POLICY='PASSIVE')
    r = subprocess.run(
        [sys.executable, 'tools/train.py',
         'configs/demo/hamvit_folder_toy.py', '--work-dir', str(tmp_path),
         '--cfg-options', 'train_cfg.max_epochs=2'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    best = glob.glob(str(tmp_path / 'best_accuracy_top1_epoch_*.pth'))
    assert len(best) == 1
    assert (tmp_path / 'epoch_2.pth').is_file()
    last = (tmp_path / 'last_checkpoint').read_text().strip()
    assert last.endswith('epoch_2.pth')
    ckpt = safe_load(best[0], map_location='cpu')
    assert any(k.startswith('backbone.ham.') for k in ckpt['state_dict'])
