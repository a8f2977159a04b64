"""The deploy passes (mmhybrid.deploy.passes): FusedConv2d (conv + ReLU /
residual in one oneDNN kernel), the module passes, and every family's deploy
form built from them."""
import copy
import glob
import os.path as osp
import pickle

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmhybrid.apis import build_model
from mmhybrid.deploy import onednn_ops
from mmhybrid.deploy.onnx import randomize_norms
from mmhybrid.models import SHViT
from mmhybrid.deploy.passes import (ConvResidual, FusedConv2d, _onednn_usable,
                                    deploy_module, fuse_conv_act,
                                    fuse_residuals, switch_to_deploy)
from mmhybrid.models.layers import Conv2dBN
from mmhybrid.utils import switch_to_deploy as utils_switch_to_deploy
from tests import ROOT, OpCounter



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
    onednn_ops()  # its once-per-process check runs two convs: not counted
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


def _random_bn(bn):
    nn.init.uniform_(bn.weight, 0.5, 1.5)
    nn.init.uniform_(bn.bias, -0.3, 0.3)
    bn.running_mean.uniform_(-0.3, 0.3)
    bn.running_var.uniform_(0.5, 1.5)
    return bn.eval()


class _Skip(nn.Module):
    """``x + body(x)`` declaring its body (the residual protocol)."""

    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)

    def residual_body(self):
        return self.body


class _Body(nn.Module):
    """A non-Sequential body naming its last conv (the residual protocol)."""
    last_conv = 'proj'

    def __init__(self):
        super().__init__()
        self.pw = nn.Conv2d(8, 16, 1)
        self.proj = Conv2dBN(16, 8)

    def forward(self, x):
        return self.proj(self.forward_body(x))

    def forward_body(self, x):
        return self.pw(x).tanh()


def test_residuals_are_added_inside_the_last_conv():
    torch.manual_seed(0)
    seq = nn.Sequential(
        _Skip(nn.Sequential(Conv2dBN(8, 16), nn.SiLU(), Conv2dBN(16, 8))),
        _Skip(_Body()),
        _Skip(nn.Sequential(nn.Conv2d(8, 8, 1), nn.ReLU())))  # ends in act
    for m in seq.modules():
        if isinstance(m, nn.BatchNorm2d):
            _random_bn(m)
    x = torch.randn(2, 8, 7, 9)
    with torch.no_grad():
        ref = seq(x)
        deploy_module(seq)
        assert [type(m) for m in seq] == [ConvResidual, ConvResidual, _Skip]
        # the body keeps its child name, so do the state-dict keys
        assert 'body.proj.weight' in seq[1].state_dict()
        with OpCounter() as ops:
            out = seq(x)
    assert ops.count('add') == 1  # the last skip: its body ends in a ReLU
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    assert fuse_residuals(seq) == 0  # nothing left to replace


def test_conv_residual_refuses_a_body_without_a_last_conv():
    with pytest.raises(ValueError, match='does not end in a FusedConv2d'):
        ConvResidual(nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU()))


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="act must be one of"):
        FusedConv2d.from_conv(_conv(), 'gelu')


def test_conv_bn_pairs_fold_and_conv2dbn_fuse_is_pure():
    seq = nn.Sequential(_conv(), _random_bn(nn.BatchNorm2d(16)), nn.SiLU())
    brick = Conv2dBN(8, 16, 3, 1, 1)
    _random_bn(brick.bn)
    x = torch.randn(2, 8, 9, 9)
    with torch.no_grad():
        ref, ref_brick = seq(x), brick(x)
        fused = brick.fuse()
        assert type(fused) is nn.Conv2d
        torch.testing.assert_close(fused(x), ref_brick, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(brick(x), ref_brick)  # brick unchanged
        deploy_module(seq)  # mmcv's conv+BN folding, then conv+act
        assert isinstance(seq[1], nn.Identity)
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


def test_deploy_form_stays_an_shvit_that_copies_pickles_and_reloads():
    model = SHViT(arch='s1', out_indices=(1, 2)).eval()
    model.switch_to_deploy()
    assert type(model) is SHViT and model.deploy
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        ref = model(x)
        copies = [copy.deepcopy(model), pickle.loads(pickle.dumps(model))]
        fresh = SHViT(arch='s1', out_indices=(1, 2)).eval()
        fresh.switch_to_deploy()
        fresh.load_state_dict(model.state_dict())  # strict: same keys
        for other in copies + [fresh]:
            for o, r in zip(other(x), ref):
                assert o.is_contiguous()
                torch.testing.assert_close(o, r)
        model.switch_to_deploy()  # a second switch changes nothing
        for o, r in zip(model(x), ref):
            torch.testing.assert_close(o, r)


def test_utils_reexports_the_whole_model_walk():
    assert utils_switch_to_deploy is switch_to_deploy


def _one_classifier_per_family():
    """The first classification config (by name) of every backbone type in
    configs/: a new family's classifier is tested without a table here."""
    from mmengine.config import Config
    found = {}
    for path in sorted(glob.glob(osp.join(ROOT, 'configs', '*.py'))):
        cfg = Config.fromfile(path)
        if cfg.get('default_scope') == 'mmpretrain':
            found.setdefault(cfg.model.backbone.type, osp.basename(path))
    return sorted(found.values())


@pytest.mark.parametrize('config', _one_classifier_per_family())
def test_every_family_deploys_to_the_same_function(config):
    model = build_model(osp.join(ROOT, 'configs', config))
    assert randomize_norms(model) > 0  # non-trivial BN statistics
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


def _randomise_bns(model):
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            _random_bn(m)
    return model


def _close(out, ref, tol):
    """Nested outputs (tuples/lists of tensors) equal within ``tol``."""
    if isinstance(ref, torch.Tensor):
        torch.testing.assert_close(out, ref, rtol=tol, atol=tol)
        return 1
    assert type(out) is type(ref) and len(out) == len(ref)
    return sum(_close(o, r, tol) for o, r in zip(out, ref))


def test_whole_detector_deploys_to_the_same_function():
    """Mask R-CNN (SHViT-S1, BN in the neck): backbone, neck, RPN, RoI
    extractors (ParallelRoIAlign), bbox and mask heads all switch; each part
    equals the model as trained on the same input (the RoI heads on the same
    proposals), and so do the predictions (max_per_img detections: the mask head
    runs), up to the float noise that box decoding passes on."""
    from mmhybrid.apis.task_timing import predict_batch
    from mmhybrid.deploy import ParallelRoIAlign
    model = _randomise_bns(build_model(
        osp.join(ROOT, 'configs/demo/maskrcnn_shvit_s1_toy.py'),
        cfg_options={'model.test_cfg.rcnn.score_thr': 0.}))
    batch = predict_batch('detection', (128, 160))
    data = model.data_preprocessor(batch)
    inputs, samples = data['inputs'], data['data_samples']

    def parts(proposals=None):
        feats = model.extract_feat(inputs)
        if proposals is None:
            proposals = model.rpn_head.predict(feats, samples, rescale=False)
        return (feats, model.rpn_head(feats),
                model.roi_head.forward(feats, proposals, samples)), proposals

    with torch.no_grad():
        ref, proposals = parts()
        ref_pred = model.test_step(batch)[0].pred_instances
        switched = switch_to_deploy(model)
        out, _ = parts(proposals)
        pred = model.test_step(batch)[0].pred_instances
    for part in ('SHViT', 'TransposedConvFPN', 'RPNHead', 'FCNMaskHead',
                 'RoIAlign'):
        assert part in switched
    assert model.neck.deploy and model.roi_head.mask_head.deploy
    assert sum(isinstance(m, ParallelRoIAlign) for m in model.modules()) == 8
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                   for m in model.modules())
    # 5 neck maps, 2 x 5 RPN maps, bbox scores/deltas, mask logits
    assert _close(out, ref, 1e-4) == 18
    assert len(pred) == len(ref_pred) == model.test_cfg.rcnn.max_per_img
    torch.testing.assert_close(pred.scores, ref_pred.scores, rtol=1e-3,
                               atol=1e-4)
    torch.testing.assert_close(pred.bboxes, ref_pred.bboxes, rtol=1e-3,
                               atol=0.05)
    assert (pred.masks != ref_pred.masks).float().mean() < 1e-3


@pytest.mark.parametrize('config,shape', [
    ('configs/demo/fpn_shvit_s1_toy.py', (96, 128)),
    ('configs/upernet_shvit_s4_ade20k.py', (128, 128))])
def test_whole_segmentor_deploys_to_the_same_function(config, shape):
    """Semantic FPN and UperNet (BN + ReLU ConvModules in the decode head;
    UperNet's bottleneck reduces over 2048 x 3 x 3 and stays NCHW)."""
    from mmhybrid.apis.task_timing import predict_batch
    model = _randomise_bns(build_model(osp.join(ROOT, config)))
    batch = predict_batch('segmentation', shape)
    data = model.data_preprocessor(batch)
    with torch.no_grad():
        ref = model(**data, mode='tensor')
        ref_pred = model.test_step(batch)[0]
        switched = switch_to_deploy(model)
        out = model(**data, mode='tensor')
        pred = model.test_step(batch)[0]
    assert type(model.decode_head).__name__ in switched
    head = model.decode_head
    fused = [m for m in head.modules() if isinstance(m, FusedConv2d)]
    assert any(m.act == 'relu' for m in fused)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                   for m in head.modules())
    if 'upernet' in config:
        assert any(m.prefers_nchw() and m.weight.is_contiguous()
                   for m in fused)
    # float noise of reductions over up to 2048 x 3 x 3 terms: 1e-4 of the
    # logits' range
    atol = 1e-4 * float(ref.abs().max())
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=atol)
    torch.testing.assert_close(pred.seg_logits.data,
                               ref_pred.seg_logits.data, rtol=1e-4,
                               atol=atol)
    assert (pred.pred_sem_seg.data != ref_pred.pred_sem_seg.data
            ).float().mean() < 1e-3


def test_parallel_roi_align_equals_mmcv(monkeypatch):
    import torchvision
    from mmcv.ops import RoIAlign

    from mmhybrid.deploy import ParallelRoIAlign
    feats = torch.randn(2, 16, 40, 56)
    xy = torch.rand(50, 2) * torch.tensor([200., 140.])
    rois = torch.cat([torch.randint(0, 2, (50, 1)).float(), xy,
                      xy + torch.rand(50, 2) * 60 + 1], 1)
    calls, tv_roi_align = [], torchvision.ops.roi_align

    def counted(input, rois, *args):
        calls.append(len(rois))
        return tv_roi_align(input, rois, *args)

    monkeypatch.setattr(torchvision.ops, 'roi_align', counted)
    monkeypatch.setattr(torch, 'get_num_threads', lambda: 2)
    for aligned, ratio in ((True, 0), (False, 2)):
        op = RoIAlign(7, 0.25, ratio, aligned=aligned)
        fast = ParallelRoIAlign(op)
        calls.clear()
        with torch.no_grad():
            out = fast(feats, rois)
        assert calls == [25, 25]  # one chunk per thread
        torch.testing.assert_close(out, op(feats, rois), rtol=1e-5,
                                   atol=1e-6)
    fast = copy.deepcopy(fast)
    x = feats.requires_grad_()  # autograd: mmcv's op, with gradients
    fast(x, rois).sum().backward()
    assert x.grad is not None
