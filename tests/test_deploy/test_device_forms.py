"""The deploy form per device (mmhybrid.deploy.passes.deploy_form): the CPU
form (oneDNN) is what it was; the CUDA form, chosen here with
``device='cuda'`` on a CPU model (no GPU in CI), folds BNs and
re-parameterises only, NCHW fp32, no batch chunks, no parallel RoIAlign,
and computes what the model as trained computes; a deployed model moved to
another device (``meta`` stands in for the GPU) takes the plain ops."""
import copy
import os.path as osp

import pytest
import torch
import torch.nn as nn

from mmhybrid.apis import build_model
from mmhybrid.deploy import (BatchChunked, ChannelsLastForward, ConvResidual,
                             DeployForm, FusedConv2d, ParallelRoIAlign,
                             deploy_form, switch_to_deploy)
from mmhybrid.deploy.passes import CPU_PASSES, OTHER_PASSES, PASSES
from tests import ROOT, OpCounter



def _random_bns(model):
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + .5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) * .4 - .2)
                m.running_mean.copy_(
                    torch.rand(m.running_mean.shape, generator=g) * .4 - .2)
                m.running_var.copy_(
                    torch.rand(m.running_var.shape, generator=g) + .5)
    return model


def _has_bn(module):
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm)
               for m in module.modules())


def test_pass_lists_per_device():
    cpu, cuda = deploy_form('cpu'), deploy_form('cuda:1')
    assert cpu == DeployForm('cpu', True) and cpu.passes == CPU_PASSES
    assert cpu.model_passes == ('parallel_roi_align', )
    assert cuda == DeployForm('cuda', False)
    assert cuda.passes == ('fuse_modules', 'unchunk_batches', 'fuse_conv_bn')
    assert cuda.model_passes == ()
    assert not {'fuse_conv_modules', 'fuse_conv_act', 'to_fused_convs',
                'fuse_residuals'} & set(cuda.passes)
    assert deploy_form('cuda', channels_last=True).passes == \
        OTHER_PASSES + ('channels_last', )
    assert set(CPU_PASSES + OTHER_PASSES) <= set(PASSES)
    assert 'oneDNN' in cpu.describe() and 'NCHW fp32' in cuda.describe()
    with pytest.raises(ValueError, match='CPU deploy form is channels-last'):
        deploy_form('cpu', channels_last=False)


def test_form_follows_the_parameters_device():
    conv = nn.Conv2d(3, 4, 3)
    assert deploy_form(module=conv).device == 'cpu'
    assert deploy_form(module=conv.to('meta')).device == 'meta'
    assert deploy_form('cuda', module=conv).device == 'cuda'  # overrides
    assert deploy_form(module=nn.ReLU()).device == 'cpu'
    mixed = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3).to('meta'))
    with pytest.raises(ValueError, match='several devices.*cpu, meta'):
        deploy_form(module=mixed)


def test_cuda_form_of_shvit_equals_the_model_as_trained():
    """SHViT's own switch_to_deploy() (called by the whole-model walk) takes
    the form switch_to_deploy was asked for."""
    model = _random_bns(build_model(
        osp.join(ROOT, 'configs/imagenet_shvit_s1.py'))).eval()
    x = torch.randn(2, 3, 64, 80)
    with torch.no_grad():
        ref = model(x, mode='tensor')
        switched = switch_to_deploy(model, device='cuda')
        out = model(x, mode='tensor')
        feats = model.backbone(x)
    assert 'SHViT' in switched and model.backbone.deploy
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
    assert not _has_bn(model)
    assert not any(isinstance(m, ConvResidual) for m in model.modules())
    # FusedConv2d only where SHViT's own fuse() makes one (conv + ReLU;
    # off the CPU: F.conv2d and F.relu), no conversion of plain convs
    fused = [m for m in model.modules() if isinstance(m, FusedConv2d)]
    assert fused and all(m.act == 'relu' for m in fused)
    assert any(type(m) is nn.Conv2d for m in model.backbone.modules())
    assert all(p.is_contiguous() for p in model.parameters())  # NCHW
    forward = model.backbone.forward
    assert isinstance(forward, ChannelsLastForward) and \
        not forward.channels_last
    assert all(f.is_contiguous() for f in feats)


def test_cuda_form_channels_last_option():
    model = build_model(backbone='SHViT', arch='s1').eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        switch_to_deploy(model, device='cuda', channels_last=True)
        out = model(x)
    assert model.forward.channels_last
    assert any(p.dim() == 4 and not p.is_contiguous()
               and p.is_contiguous(memory_format=torch.channels_last)
               for p in model.parameters())
    for o, r in zip(out, ref):
        assert o.is_contiguous()
        torch.testing.assert_close(o, r, rtol=1e-4, atol=1e-4)


def test_cuda_form_of_harmovision_has_no_batch_chunks():
    model = _random_bns(build_model(backbone='HarmoVision', arch='n')).eval()
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        cpu = switch_to_deploy(copy.deepcopy(model))
        switch_to_deploy(model, device='cuda')
        out = model(x)
    assert cpu  # the CPU form of the same model chunks its batches
    assert not any(isinstance(m, BatchChunked) for m in model.modules())
    assert type(model.stem) is nn.Sequential
    assert model.deploy_chunk_bytes == 8 << 20  # the owner's setting stays
    for o, r in zip(out, ref):
        torch.testing.assert_close(o, r, rtol=1e-4, atol=1e-4)


def test_cpu_form_of_harmovision_chunks_batches():
    model = build_model(backbone='HarmoVision', arch='n').eval()
    switch_to_deploy(model, device='cpu')
    assert isinstance(model.stem, BatchChunked)


def test_cuda_form_of_a_whole_detector():
    """Mask R-CNN (SHViT-S1): neck and heads keep their ConvModules' ReLUs
    as modules and plain convs, mmcv's RoIAlign stays; predictions equal
    the model as trained."""
    from mmcv.ops import RoIAlign

    from mmhybrid.apis.task_timing import predict_batch
    model = _random_bns(build_model(
        osp.join(ROOT, 'configs/demo/maskrcnn_shvit_s1_toy.py'),
        cfg_options={'model.test_cfg.rcnn.score_thr': 0.}))
    batch = predict_batch('detection', (128, 160))
    with torch.no_grad():
        ref = model.test_step(batch)[0].pred_instances
        switched = switch_to_deploy(model, device='cuda')
        pred = model.test_step(batch)[0].pred_instances
    for part in ('SHViT', 'TransposedConvFPN', 'RPNHead', 'FCNMaskHead'):
        assert part in switched
    assert 'RoIAlign' not in switched
    assert not any(isinstance(m, ParallelRoIAlign) for m in model.modules())
    assert sum(type(m) is RoIAlign for m in model.modules()) == 8
    assert not _has_bn(model)
    for part in (model.neck, model.rpn_head, model.roi_head.mask_head):
        assert not any(isinstance(m, FusedConv2d) for m in part.modules())
    assert any(isinstance(m, nn.ReLU)
               for m in model.roi_head.mask_head.modules())
    assert len(pred) == len(ref) == model.test_cfg.rcnn.max_per_img
    torch.testing.assert_close(pred.scores, ref.scores, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(pred.bboxes, ref.bboxes, rtol=1e-3, atol=0.05)


def test_fused_conv_off_the_cpu_takes_the_plain_ops():
    """A CPU-deployed conv moved to another device (meta stands in for the
    GPU): F.conv2d, the add and the activation; no oneDNN op."""
    conv = FusedConv2d(8, 8, 3, padding=1, act='relu').eval().to('meta')
    x = torch.randn(2, 8, 9, 9, device='meta')
    with torch.no_grad(), OpCounter() as ops:
        y = conv(x, torch.randn(2, 8, 9, 9, device='meta'))
    assert y.shape == (2, 8, 9, 9) and y.device.type == 'meta'
    assert ops.count('_convolution_pointwise') == 0
    assert ops.count('_reorder_convolution_weight') == 0
    assert ops.count('convolution') == 1
    assert ops.count('add') == 1 and ops.count('relu') == 1


def test_cpu_deployed_model_moved_off_the_cpu_takes_no_onednn_op():
    model = build_model(backbone='SHViT', arch='s1').eval()
    switch_to_deploy(model)  # the CPU form: FusedConv2d, ConvResidual
    assert any(isinstance(m, ConvResidual) for m in model.modules())
    model.to('meta')
    with torch.no_grad(), OpCounter() as ops:
        out = model(torch.randn(2, 3, 64, 64, device='meta'))
    assert [o.shape[0] for o in out] == [2] * len(out)
    assert ops.count('_convolution_pointwise') == 0
    assert ops.count('convolution') > 0


def test_cpu_form_batch_chunks_and_roi_align_off_the_cpu_are_plain():
    """The CPU form's BatchChunked and ParallelRoIAlign, moved off the CPU
    (meta): the plain sequence, mmcv's op (a stand-in records the call)."""
    from mmcv.ops import RoIAlign
    model = build_model(backbone='HarmoVision', arch='n').eval()
    switch_to_deploy(model)
    assert isinstance(model.stem, BatchChunked)
    model.to('meta')
    with torch.no_grad():
        outs = model(torch.randn(4, 3, 64, 64, device='meta'))
    assert all(o.shape[0] == 4 for o in outs)
    calls = []

    class Recorder(nn.Module):

        def forward(self, x, rois):
            calls.append(x.device.type)
            return 'mmcv'

    fast = ParallelRoIAlign(RoIAlign(7, 0.25, 0))
    fast.mmcv_op = Recorder()
    feats = torch.randn(1, 4, 8, 8, device='meta')
    rois = torch.zeros(64, 5, device='meta')
    with torch.no_grad():
        assert fast(feats, rois) == 'mmcv'
    assert calls == ['meta']
