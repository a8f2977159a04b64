"""FusedConv2d (deploy-time conv + ReLU / residual in one oneDNN kernel) and
SHViT's deploy form built from it."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from mmhybrid.apis import build_model
from mmhybrid.models import SHViT
from mmhybrid.models.layers import (FusedConv2d, conv_add, fold_bn,
                                    fold_conv_bn_pairs, fuse_conv_act)
from mmhybrid.models.layers.conv_bn import _onednn_usable
from mmhybrid.utils import switch_to_deploy


class OpCounter(TorchDispatchMode):
    """Counts the ATen/oneDNN ops a forward dispatches."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))

    def count(self, name):
        return sum(op.endswith(name) for op in self.ops)


def _conv(cin=8, cout=16, k=3, groups=1, stride=1):
    torch.manual_seed(0)
    conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups)
    nn.init.normal_(conv.bias)
    return conv.eval()


@pytest.mark.parametrize('k,groups,stride', [(1, 1, 1), (3, 1, 2),
                                             (3, 8, 1)])
@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('act,fn', [('relu', F.relu), ('silu', F.silu)])
def test_fused_equals_plain_ops(k, groups, stride, channels_last, act, fn):
    conv = _conv(8, 8 if groups > 1 else 16, k, groups, stride)
    relu = FusedConv2d.from_conv(conv, act)
    plain = FusedConv2d.from_conv(conv)
    x = torch.randn(2, 8, 11, 13)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        relu, plain = (m.to(memory_format=torch.channels_last)
                       for m in (relu, plain))
    with torch.no_grad():
        ref = conv(x)
        res = torch.randn_like(ref)
        with OpCounter() as ops:
            y_relu, y_add = relu(x), plain(x, res)
        assert ops.count('_convolution_pointwise') == 2
        assert ops.count(act) == ops.count('add') == 0
        with OpCounter() as ops:  # packed weights are reused
            relu(x)
        assert ops.count('_reorder_convolution_weight') == 0
    torch.testing.assert_close(y_relu, fn(ref), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y_add, ref + res, rtol=1e-5, atol=1e-5)


def test_autograd_and_tracing_take_plain_ops():
    conv = FusedConv2d.from_conv(_conv(), 'relu')
    x = torch.randn(2, 8, 9, 9, requires_grad=True)
    with OpCounter() as ops:
        y = conv(x)
    assert ops.count('_convolution_pointwise') == 0
    y.sum().backward()  # the plain path has gradients
    assert x.grad is not None and conv.weight.grad is not None
    with torch.no_grad():
        assert _onednn_usable(x.detach(), conv.weight)
        traced = torch.jit.trace(conv, x.detach())
        assert 'mkldnn' not in str(traced.graph)
        torch.testing.assert_close(traced(x.detach()), y.detach())


def test_bf16_autocast_close_to_conv_autocast():
    conv = _conv()
    fused = FusedConv2d.from_conv(conv)
    x = torch.randn(2, 8, 10, 10).contiguous(
        memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast('cpu', torch.bfloat16):
        y, ref = fused(x, residual=x.new_ones(2, 16, 10, 10)), conv(x) + 1
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), ref.float(), rtol=2e-2, atol=5e-2)


def test_conv_add_on_any_module():
    conv = _conv()
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(conv_add(conv, x, conv(x)), 2 * conv(x))
        torch.testing.assert_close(conv_add(conv, x), conv(x))


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="act must be one of"):
        FusedConv2d.from_conv(_conv(), 'gelu')


def test_fold_bn_with_conv_bias_and_pairs():
    bn = nn.BatchNorm2d(16).eval()
    nn.init.uniform_(bn.weight, 0.5, 1.5)
    nn.init.uniform_(bn.bias, -0.3, 0.3)
    bn.running_mean.uniform_(-0.3, 0.3)
    bn.running_var.uniform_(0.5, 1.5)
    seq = nn.Sequential(_conv(), bn, nn.SiLU())
    x = torch.randn(2, 8, 9, 9)
    with torch.no_grad():
        ref = seq(x)
        torch.testing.assert_close(fold_bn(seq[0], bn)(x), bn(seq[0](x)))
        assert fold_conv_bn_pairs(seq) == 1
        assert isinstance(seq[1], nn.Identity)
        assert fuse_conv_act(seq) == 1  # over the Identity left by the BN
        assert seq[0].act == 'silu' and isinstance(seq[2], nn.Identity)
        torch.testing.assert_close(seq(x), ref, rtol=1e-5, atol=1e-5)


def test_fuse_conv_act_in_sequential():
    seq = nn.Sequential(_conv(), nn.ReLU(), _conv(16, 16), nn.SiLU(),
                        nn.Sequential(_conv(16, 16), nn.ReLU()), _conv(16, 4))
    x = torch.randn(2, 8, 7, 7)
    with torch.no_grad():
        ref = seq(x)
        assert fuse_conv_act(seq) == 3
        assert isinstance(seq[0], FusedConv2d) and seq[0].act == 'relu'
        assert seq[2].act == 'silu'
        assert isinstance(seq[1], nn.Identity)
        assert type(seq[5]) is nn.Conv2d  # no ReLU after it
        torch.testing.assert_close(seq(x), ref, rtol=1e-5, atol=1e-5)


def test_shvit_deploy_runs_every_relu_and_residual_in_the_convs():
    model = SHViT(arch='s1').eval()
    for m in model.modules():  # non-trivial BN so folding is exercised
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad(), OpCounter() as before:
        ref = model(x)
    model.switch_to_deploy()
    with torch.no_grad(), OpCounter() as after:
        out = model(x)
    for r, o in zip(ref, out):
        assert o.is_contiguous()  # NCHW out: mmcv's RoIAlign assumes it
        torch.testing.assert_close(o, r, rtol=1e-4, atol=1e-4)
    assert before.count('add') > 0 and after.count('add') == 0
    # left: the squeeze-excite ReLU of the two PatchMerging layers
    assert after.count('relu') == 2
    assert after.count('_convolution_pointwise') > 0
    # the deploy state dict keeps plain Conv2d keys
    assert all(k.endswith(('weight', 'bias')) for k in model.state_dict())


@pytest.mark.parametrize('config', ['imagenet_shvit_s1',
                                    'imagenet_harmovision_n',
                                    'imagenet_ga_cswin_t', 'hamvit_folder'])
def test_every_family_deploys_to_the_same_function(config):
    model = build_model(f'configs/{config}.py')
    for m in model.modules():  # non-trivial BN statistics
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 3, 96, 112)
    with torch.no_grad():
        ref = model(x, mode='tensor')
        assert switch_to_deploy(model)  # class names of what switched
        assert model.backbone.deploy
        out = model(x, mode='tensor')
        feats = model.backbone(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
    assert all(f.is_contiguous() for f in feats)
    assert any(isinstance(m, FusedConv2d) for m in model.modules())
    assert not any(type(m) is nn.Conv2d for m in model.backbone.modules())
