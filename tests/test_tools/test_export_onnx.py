"""Backbone and classifier export to ONNX (mmhybrid.deploy, the library of
tools/deployment/export_onnx.py) in deploy mode: onnxruntime parity, dynamic
batch, clear errors. The tool's command line runs as a subprocess."""
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
import onnx  # noqa: F401 (make install installs it)
import onnxruntime  # noqa: F401 (make install installs it)

from mmhybrid.deploy import onnx as deploy  # noqa: E402
from mmhybrid.utils import switch_to_deploy  # noqa: E402


def _deploy(model):
    deploy.randomize_norms(model)
    model.eval()
    done = switch_to_deploy(model)
    model.eval()
    return done


def test_shvit_backbone_dynamic(tmp_path):
    model = deploy.build_backbone('SHViT', 's1')
    with torch.no_grad():
        deploy.randomize_norms(model)
        model.eval()
        ref = [o.clone() for o in model(torch.ones(1, 3, 64, 64))]
    assert switch_to_deploy(model) == ['SHViT']
    model.eval()
    with torch.no_grad():  # the deploy model is the same function
        for a, b in zip(ref, model(torch.ones(1, 3, 64, 64))):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)
    out = str(tmp_path / 'shvit_s1.onnx')
    x = torch.randn(1, 3, 64, 64)
    names = deploy.export(model, x, out, opset=17, dynamic=True)
    assert names == ['output0', 'output1', 'output2']
    errs = deploy.tensor_parity(model, out, x)
    assert len(errs) == 3 and all(r < 1e-4 for _, r in errs), errs
    # dynamic batch and size: another batch size and input size
    x2 = torch.randn(3, 3, 96, 96)
    errs = deploy.tensor_parity(model, out, x2)
    assert all(r < 1e-4 for _, r in errs), errs
    got = deploy.run_onnx(out, x2)
    assert got[0].shape[0] == 3


def test_hamvit_dynamic_size_follows_the_position_embedding(tmp_path):
    model = deploy.build_backbone('HAMViT', None)
    assert _deploy(model) == ['HAMViT']
    out = str(tmp_path / 'hamvit.onnx')
    x = torch.randn(1, 3, 224, 224)
    deploy.export(model, x, out, opset=17, dynamic=True)
    # another size: the exported graph resizes the position embedding
    errs = deploy.tensor_parity(model, out, torch.randn(2, 3, 256, 192))
    assert all(r < 1e-4 for _, r in errs), errs


def _cli(*args):
    return subprocess.run(
        [sys.executable, 'tools/deployment/export_onnx.py', *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_classifier_config_cli(tmp_path):
    out = str(tmp_path / 'cls.onnx')
    proc = _cli('configs/imagenet_shvit_s1.py', '--shape', '64', '64',
                '--dynamic-batch-only', '--dynamic', '--tol', '1e-4',
                '--out', out)
    text = proc.stdout
    assert proc.returncode == 0, text + proc.stderr[-3000:]
    assert 'BNLinearClsHead' in text and 'SHViT' in text
    assert text.count('[parity]') == 3  # static, dynamic batch, verdict
    got = deploy.run_onnx(out, torch.randn(4, 3, 64, 64))
    assert got[0].shape == (4, 1000)
    assert np.isfinite(got[0]).all()


def test_missing_checkpoint_named(tmp_path):
    missing = str(tmp_path / 'nope.pth')
    proc = _cli('--backbone', 'SHViT', '--arch', 's1', '--checkpoint',
                missing, '--out', str(tmp_path / 'x.onnx'))
    assert proc.returncode == 2
    assert missing in proc.stderr


def test_unknown_backbone(tmp_path):
    with pytest.raises(deploy.ExportError, match='Unknown backbone'):
        deploy.build_backbone('NoSuchNet')


def test_failing_op_is_named():
    msg = ("UnsupportedOperatorError: Exporting the operator "
           "'aten::foo_bar' to ONNX opset version 17 is not supported.")
    assert deploy.failing_op(msg) == 'aten::foo_bar'


def test_harmovision_deploy_exports(tmp_path):
    """HarmoVision's deploy form (token-layout blocks, window attention as
    SDPA over unpadded windows) exports with its functional paths, at a size
    with partial windows at every stage."""
    model = deploy.build_backbone('HarmoVision', 'n')
    assert _deploy(model) == ['HarmoVision']
    x = torch.randn(1, 3, 97, 131)
    out = str(tmp_path / 'harmovision_n.onnx')
    deploy.export(model, x, out, opset=17, dynamic=False)
    errs = deploy.tensor_parity(model, out, x)
    assert len(errs) == 4 and all(r < 1e-4 for _, r in errs), errs
