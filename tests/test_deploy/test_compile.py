"""torch.compile of a model's backbone and neck (mmhybrid.deploy.compile),
the --compile form of tools/test.py (InferenceFormHook) and the words that
say which form ran. Compiled with the 'eager' backend (dynamo without
inductor: no C++ compile, seconds); inductor on this 2-core CPU took more
than 5 minutes for SHViT-S1, too slow for a unit test."""
import logging
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.logging import MMLogger

from mmhybrid.apis import build_model
from mmhybrid.deploy import (CompiledForward, compile_form, compile_model,
                             switch_to_deploy)
from mmhybrid.engine import InferenceFormHook, inference_form


class Tiny(nn.Module):
    """An OpenMMLab-like model: backbone and neck of convs, a head."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1),
                                      nn.BatchNorm2d(8), nn.ReLU())
        self.neck = nn.Conv2d(8, 4, 1)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.neck(self.backbone(x)).mean((2, 3)))


def _broken_backend(gm, example_inputs):
    raise RuntimeError('no C++ compiler in this test')


def test_compiles_backbone_and_neck_only():
    torch.manual_seed(0)
    model = Tiny().eval()
    keys = list(model.state_dict())
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        ref = model(x)
        compiled = compile_model(model, backend='eager')
        out = model(x)
    assert list(compiled.parts) == ['backbone', 'neck']
    assert isinstance(model.backbone.forward, CompiledForward)
    assert isinstance(model.neck.forward, CompiledForward)
    assert 'forward' not in model.head.__dict__  # heads stay eager
    assert list(model.state_dict()) == keys
    torch.testing.assert_close(out, ref)
    assert compiled.fallbacks == {}
    assert compiled.form() == 'torch.compile (eager) of backbone, neck'
    again = compile_model(model, backend='eager')  # idempotent
    assert again.parts['backbone'] is compiled.parts['backbone']


def test_deploy_form_then_compile_equals_the_model_as_trained():
    torch.manual_seed(0)
    model = build_model(backbone='SHViT', arch='s1').eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
        switch_to_deploy(model)
        compiled = compile_model(model, backend='eager')
        out = model(x)
    assert list(compiled.parts) == ['SHViT']  # a bare backbone: itself
    assert compiled.fallbacks == {}
    for o, r in zip(out, ref):
        torch.testing.assert_close(o, r, rtol=1e-4, atol=1e-4)


class _Records(logging.Handler):

    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_a_failing_compile_falls_back_with_the_reason():
    model = Tiny().eval()
    x = torch.randn(1, 3, 8, 8)
    logger, records = MMLogger.get_current_instance(), _Records()
    logger.addHandler(records)
    try:
        with torch.no_grad():
            ref = model(x)
            compiled = compile_model(model, backend=_broken_backend)
            out = model(x)
            assert model(x).shape == ref.shape  # eager from now on
    finally:
        logger.removeHandler(records)
    torch.testing.assert_close(out, ref)
    fallbacks = compiled.fallbacks
    assert set(fallbacks) == {'backbone', 'neck'}
    assert 'no C++ compiler in this test' in fallbacks['backbone']
    form = compiled.form()
    assert 'backbone fell back to eager (' in form and \
        'no C++ compiler in this test' in form
    logged = '\n'.join(records.lines)
    assert 'torch.compile failed for backbone (Sequential)' in logged
    assert 'runs uncompiled (eager) from now on' in logged


def test_model_errors_are_not_taken_for_compile_failures():
    model = Tiny().eval()
    compiled = compile_model(model, backend='eager')
    with pytest.raises(Exception, match='channels|size|shape'):
        with torch.no_grad():
            model(torch.randn(1, 5, 8, 8))  # 5 channels, not 3
    # a wrong input is the model's error: whichever way it was raised,
    # eager runs it again and raises too, and the input is not blamed on
    # the compiler for good
    with torch.no_grad():
        model(torch.randn(1, 3, 8, 8))
    assert compiled.parts['neck'].fallback is None


def test_bad_requests_are_refused():
    with pytest.raises(ValueError, match='compile mode must be one of'):
        compile_model(Tiny(), mode='fastest')
    with pytest.raises(ValueError, match="'reduce-overhead'.*needs a model "
                       'on CUDA; this one is on cpu'):
        compile_model(Tiny(), mode='reduce-overhead')
    with pytest.raises(ValueError, match='Linear has no backbone or neck'):
        compile_model(nn.Linear(2, 2))


def test_form_words():
    assert compile_form('inductor', None, ['backbone', 'neck']) == \
        'torch.compile (inductor) of backbone, neck'
    assert compile_form('inductor', 'reduce-overhead', ['backbone']) == \
        'torch.compile (inductor, reduce-overhead) of backbone'
    assert inference_form(compile='default') == 'torch.compile'
    assert inference_form(True, False, 'reduce-overhead') == \
        'deploy + torch.compile (reduce-overhead)'
    words = compile_form('eager', None, ['neck'], {'neck': 'X: y'})
    assert inference_form(True, compile=words) == \
        'deploy + torch.compile (eager) of neck; neck fell back to eager ' \
        '(X: y)'


def test_hook_compiles_after_deploy():
    model = build_model(backbone='SHViT', arch='s1', num_classes=3)
    runner = SimpleNamespace(model=SimpleNamespace(module=model),
                             test_loop=SimpleNamespace(fp16=False),
                             logger=MMLogger.get_current_instance())
    hook = InferenceFormHook(deploy=True, compile='default',
                             compile_backend='eager')
    hook.before_test(runner)
    assert model.backbone.deploy
    assert isinstance(model.backbone.forward, CompiledForward)
    # mmpretrain's classifier: its neck (global average pooling) too
    assert hook.form == 'deploy + torch.compile (eager) of backbone, neck'
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, 64, 64))
    assert feats[-1].shape[0] == 1 and hook.compiled.fallbacks == {}
