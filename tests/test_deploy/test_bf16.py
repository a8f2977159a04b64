"""CPU bf16 inference (mmhybrid.deploy.bf16): the islands (backbone, neck,
heads) compute in bf16 and hand float32 on, so mmcv's NMS and RoIAlign, box
decoding and the seg-logit resize run in float32; InferenceFormHook applies
it (and deploy) to a Runner's model before the test loop."""
import importlib
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from torch.utils._python_dispatch import TorchDispatchMode

from mmhybrid.apis import ImagePredictor, build_model
from mmhybrid.engine import InferenceFormHook, inference_form
from mmhybrid.deploy.bf16 import _float32_outputs, bf16_islands, to_float32
from mmhybrid.utils import bf16_autocast, enable_bf16, switch_to_deploy
from tests import ROOT

DET = f'{ROOT}/configs/demo/maskrcnn_shvit_s1_toy.py'
SEG = f'{ROOT}/configs/demo/fpn_shvit_s1_toy.py'

# the ops autocast lowers to bf16 (ATen and oneDNN names)
_MATMUL_OPS = ('convolution', 'conv2d', 'linear', 'addmm', 'mm', 'bmm',
               'matmul', '_convolution_pointwise')


class DtypeCounter(TorchDispatchMode):
    """Counts the matmul-type ops a forward dispatches, by the dtype of
    their input."""

    def __init__(self):
        super().__init__()
        self.matmul = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func.overloadpacket).split('.')[-1]
        if name in _MATMUL_OPS and isinstance(args[0], torch.Tensor):
            dtype = args[0].dtype
            self.matmul[dtype] = self.matmul.get(dtype, 0) + 1
        return func(*args, **(kwargs or {}))


class OutputDtypes:
    """Records the dtypes of the floating tensors each module outputs
    (a forward hook registered after enable_bf16's sees what the next
    module gets)."""

    def __init__(self, modules):
        self.dtypes = {}
        for name, module in modules:
            module.register_forward_hook(self._hook(name))

    def _hook(self, name):
        def hook(module, args, outputs):
            found = set()

            def visit(v):
                if isinstance(v, torch.Tensor) and v.is_floating_point():
                    found.add(v.dtype)
                elif isinstance(v, (tuple, list)):
                    for x in v:
                        visit(x)
                elif isinstance(v, dict):
                    for x in v.values():
                        visit(x)

            visit(outputs)
            self.dtypes.setdefault(name, set()).update(found)
        return hook


class MmcvOpSpy:
    """Records the input dtypes of mmcv's NMS and RoIAlign (their autograd
    Functions, which the mmdet heads reach through ``batched_nms`` and
    ``RoIAlign``), and of torchvision's ``roi_align``, which the deploy
    form's :class:`~mmhybrid.deploy.ParallelRoIAlign` runs."""

    def __init__(self, monkeypatch):
        self.calls = []
        nms = importlib.import_module('mmcv.ops.nms')
        roi_align = importlib.import_module('mmcv.ops.roi_align')
        for name, fn_cls in (('nms', nms.NMSop),
                             ('roi_align', roi_align.RoIAlignFunction)):
            monkeypatch.setattr(fn_cls, 'forward',
                                staticmethod(self._spy(name, fn_cls.forward)))
        import torchvision
        tv_roi_align = torchvision.ops.roi_align
        monkeypatch.setattr(
            torchvision.ops, 'roi_align',
            lambda a, b, *args: self._spy('roi_align', lambda _, *x:
                                          tv_roi_align(*x))(None, a, b, *args))

    def _spy(self, name, forward):
        def spied(ctx, a, b, *args, **kwargs):
            self.calls.append((name, a.dtype, b.dtype))
            return forward(ctx, a, b, *args, **kwargs)
        return spied

    def dtypes(self, name):
        return {d for n, a, b in self.calls if n == name for d in (a, b)}


def _det_batch():
    from mmdet.structures import DetDataSample
    torch.manual_seed(0)
    img = torch.randint(0, 255, (3, 128, 128), dtype=torch.uint8)
    sample = DetDataSample(metainfo=dict(
        img_id=0, img_shape=(128, 128), ori_shape=(128, 128),
        scale_factor=(1., 1.)))
    return dict(inputs=[img], data_samples=[sample])


def _seg_batch():
    from mmseg.structures import SegDataSample
    torch.manual_seed(0)
    img = torch.randint(0, 255, (3, 128, 96), dtype=torch.uint8)
    sample = SegDataSample(metainfo=dict(
        img_shape=(128, 96), ori_shape=(128, 96), pad_shape=(128, 128)))
    return dict(inputs=[img], data_samples=[sample])


@pytest.fixture(scope='module')
def detector():
    return build_model(DET)


def test_to_float32_casts_nested_floating_tensors_only():
    bf = torch.ones(2, dtype=torch.bfloat16)
    idx = torch.arange(3)
    out = to_float32(([bf, idx], {'a': (bf, None)}, 'text'))
    assert out[0][0].dtype == torch.float32
    assert out[0][1] is idx
    assert out[1]['a'][0].dtype == torch.float32 and out[1]['a'][1] is None
    assert out[2] == 'text'


def test_detector_islands_found_by_name(detector):
    assert [n for n, _ in bf16_islands(detector)] == [
        'backbone', 'neck', 'rpn_head', 'roi_head.bbox_head',
        'roi_head.mask_head']


@pytest.mark.parametrize('deploy', [False, True])
def test_detector_runs_bf16_inside_and_hands_float32_to_mmcv(
        deploy, monkeypatch):
    model = build_model(DET)
    if deploy:
        switch_to_deploy(model)
    names = enable_bf16(model)
    assert enable_bf16(model) == names  # idempotent: no second hook
    for _, module in bf16_islands(model):
        assert list(module._forward_hooks.values()).count(
            _float32_outputs) == 1
    spy = MmcvOpSpy(monkeypatch)
    seen = OutputDtypes(bf16_islands(model))
    counter = DtypeCounter()
    with torch.no_grad(), bf16_autocast(), counter:
        result = model.test_step(_det_batch())[0]
    # the convolutions and linears ran in bf16, and only a few ran in fp32
    assert counter.matmul.get(torch.bfloat16, 0) > 30
    assert counter.matmul.get(torch.bfloat16, 0) > \
        5 * counter.matmul.get(torch.float32, 0)
    # every island handed float32 on; NMS and RoIAlign got float32 only
    assert seen.dtypes.keys() == set(names)
    assert all(d == {torch.float32} for d in seen.dtypes.values()), \
        seen.dtypes
    assert spy.dtypes('nms') == {torch.float32}
    assert spy.dtypes('roi_align') == {torch.float32}
    assert result.pred_instances.bboxes.dtype == torch.float32
    assert result.pred_instances.scores.dtype == torch.float32


def test_autocast_without_islands_sends_bf16_to_mmcv():
    """What enable_bf16 is for: autocast alone hands bf16 maps to mmcv's
    RoIAlign and NMS, which refuse them."""
    model = build_model(DET)
    with torch.no_grad(), bf16_autocast(), pytest.raises(
            (RuntimeError, NotImplementedError),
            match='BFloat16|bfloat16'):
        model.test_step(_det_batch())


def test_segmentor_resizes_float32_logits_close_to_fp32():
    model = build_model(SEG)
    with torch.no_grad():
        ref = model.test_step(_seg_batch())[0].seg_logits.data
    names = enable_bf16(model)
    assert names == ['backbone', 'neck', 'decode_head.conv_seg']
    seen = OutputDtypes([('conv_seg', model.decode_head.conv_seg)])
    counter = DtypeCounter()
    with torch.no_grad(), bf16_autocast(), counter:
        out = model.test_step(_seg_batch())[0].seg_logits.data
    assert counter.matmul.get(torch.bfloat16, 0) > 20
    assert seen.dtypes['conv_seg'] == {torch.float32}
    assert out.dtype == torch.float32 and out.shape == ref.shape == (
        4, 128, 96)
    # bf16 really ran (the logits moved), by about bf16's precision
    diff = (out - ref).abs().max().item()
    scale = ref.abs().max().item()
    assert 0 < diff < 0.05 * scale, (diff, scale)


def test_classifier_head_is_an_island():
    model = build_model(backbone='SHViT', arch='s1', num_classes=3)
    assert enable_bf16(model) == ['backbone', 'neck', 'head']
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = model(x, mode='tensor')
        with bf16_autocast():
            out = model(x, mode='tensor')
    assert out.dtype == torch.float32
    assert 0 < (out - ref).abs().max() < 0.05 * ref.abs().max() + 0.05


def test_model_without_islands_is_refused():
    with pytest.raises(ValueError, match='no submodule to run in bf16'):
        enable_bf16(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()))


def test_bf16_refuses_a_model_off_the_cpu():
    model = build_model(backbone='SHViT', arch='s1', num_classes=3)
    with pytest.raises(ValueError, match='CPU mode'):
        enable_bf16(model.to('meta'))


def _runner(model):
    return SimpleNamespace(model=model, test_loop=SimpleNamespace(fp16=False),
                           logger=MMLogger.get_current_instance())


def test_hook_applies_deploy_and_bf16_before_the_test_loop():
    model = build_model(backbone='SHViT', arch='s1', num_classes=3)
    wrapper = SimpleNamespace(module=model)  # DDP-like
    runner = _runner(wrapper)
    hook = InferenceFormHook(deploy=True, bf16=True)
    hook.before_test(runner)
    assert runner.test_loop.fp16 is True
    assert hook.deployed == ['SHViT'] and model.backbone.deploy
    assert 'backbone' in hook.islands
    assert hook.form == 'deploy + bf16 autocast (CPU)'
    # a plain fp32 test is untouched
    runner = _runner(build_model(backbone='SHViT', arch='s1', num_classes=3))
    plain = InferenceFormHook()
    plain.before_test(runner)
    assert runner.test_loop.fp16 is False and plain.islands == []
    assert not getattr(runner.model.backbone, 'deploy', False)
    assert plain.form == inference_form() == 'as trained (fp32)'


def test_hook_refuses_bf16_on_a_gpu_model():
    """On a GPU mmengine's autocast would be float16: refused, naming the
    device, before anything changes."""
    model = build_model(backbone='SHViT', arch='s1', num_classes=3)
    runner = _runner(model.to('meta'))  # stands for a model off the CPU
    with pytest.raises(ValueError, match=r"CPU inference mode.*\['meta'\]"):
        InferenceFormHook(bf16=True).before_test(runner)
    assert runner.test_loop.fp16 is False


def test_predictor_refuses_bf16_on_a_gpu_device():
    with pytest.raises(ValueError, match="CPU inference mode.*'cuda:0'"):
        ImagePredictor(SEG, device='cuda:0', bf16=True)
