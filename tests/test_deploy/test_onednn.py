"""The one door to PyTorch's private oneDNN ops (mmhybrid.deploy.onednn) and
the deploy modules that run with or without it (FusedConv2d's fallback,
BatchChunked)."""
import os.path as osp
import re
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import mmhybrid
from mmhybrid.deploy import BatchChunked, FusedConv2d
from mmhybrid.deploy import onednn as onednn_mod
from mmhybrid.deploy import passes


@pytest.fixture
def fresh_check():
    """The once-per-process check run again (and again after the test)."""
    onednn_mod._checked.cache_clear()
    yield
    onednn_mod._checked.cache_clear()


def test_checked_once_with_a_reason():
    ops = onednn_mod.onednn_ops()
    assert onednn_mod.onednn_ops() is ops  # cached
    status = onednn_mod.onednn_status()
    assert (ops is not None) == (status == 'ok'), status


def test_old_torch_falls_back_and_says_why(fresh_check, monkeypatch):
    monkeypatch.setattr(torch, '__version__', '2.0.1')
    assert onednn_mod.onednn_ops() is None
    assert '2.0.1' in onednn_mod.onednn_status()


def test_missing_op_falls_back_and_names_it(fresh_check, monkeypatch):
    real = torch.ops.mkldnn

    class Without:
        def __getattr__(self, name):
            if name == '_reorder_convolution_weight':
                raise AttributeError(name)
            return getattr(real, name)

    monkeypatch.setattr(torch.ops, 'mkldnn', Without())
    assert onednn_mod.onednn_ops() is None
    assert '_reorder_convolution_weight' in onednn_mod.onednn_status()


@pytest.mark.parametrize('act', [None, 'relu', 'silu'])
def test_fused_conv_without_onednn_computes_the_same(act, monkeypatch):
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 16, 3, 1, 1).eval()
    fused = FusedConv2d.from_conv(conv, act).to(
        memory_format=torch.channels_last)
    x = torch.randn(2, 8, 9, 11).contiguous(
        memory_format=torch.channels_last)
    r = torch.randn(2, 16, 9, 11)
    ref = conv(x) + r
    ref = {None: ref, 'relu': F.relu(ref), 'silu': F.silu(ref)}[act]
    with torch.no_grad():
        with_onednn = fused(x, r)
        monkeypatch.setattr(passes, 'onednn_ops', lambda: None)
        assert passes._onednn_usable(x, fused.weight) is None
        without = fused(x, r)
    torch.testing.assert_close(without, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(with_onednn, ref, rtol=1e-4, atol=1e-4)


def test_private_onednn_calls_only_behind_the_door():
    """No module of mmhybrid but deploy/onednn.py calls PyTorch's private
    oneDNN ops."""
    root = Path(osp.dirname(mmhybrid.__file__))
    pattern = re.compile(r'ops\.mkldnn|_C\._nn\.mkldnn|mkldnn\._|'
                         r'backends\.mkldnn\.[a-z_]*\(')
    door = root / 'deploy' / 'onednn.py'
    assert pattern.search(door.read_text())
    offenders = [str(p.relative_to(root)) for p in root.rglob('*.py')
                 if p != door and pattern.search(p.read_text())]
    assert offenders == []


class _Counting(nn.Module):

    def __init__(self, module):
        super().__init__()
        self.module, self.batches = module, []

    def forward(self, x):
        self.batches.append(x.shape[0])
        return self.module(x)


def _stage():
    torch.manual_seed(0)
    return nn.Sequential(
        _Counting(nn.Conv2d(3, 16, 3, 2, 1)), _Counting(nn.ReLU()),
        _Counting(nn.Conv2d(16, 32, 1)), _Counting(nn.Conv2d(32, 8, 1))
    ).eval()


def test_batch_chunked_runs_members_on_chunks_and_equals_sequential():
    stage = _stage()
    x = torch.randn(6, 3, 32, 32).contiguous(
        memory_format=torch.channels_last)
    with torch.no_grad():
        ref = stage(x)
    chunked = BatchChunked(stage, chunk_bytes=2 * 4 * 32 * 16 * 16)
    assert list(dict(chunked.named_parameters())) == \
        list(dict(stage.named_parameters()))  # same state-dict keys
    for m in chunked:
        m.batches.clear()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the budget is per thread
    try:
        with torch.inference_mode():
            out = chunked(x)
    finally:
        torch.set_num_threads(threads)
    # the widest map (32 channels at 16x16) fits two images per chunk
    assert chunked[2].batches == [2, 2, 2]
    assert sum(chunked[0].batches) == 6
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, ref)
    # autograd and tracing see the plain sequence
    for m in chunked:
        m.batches.clear()
    out = chunked(x.requires_grad_())
    assert chunked[2].batches == [6]
    torch.testing.assert_close(out, ref)
