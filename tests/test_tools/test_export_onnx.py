"""tools/deployment/export_onnx.py: SHViT backbone and classifier export in
deploy mode, onnxruntime parity, dynamic batch, clear errors."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        'export_onnx', osp.join(ROOT, 'tools/deployment/export_onnx.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


tool = _load_tool()


def _deploy(model):
    tool.randomize_norms(model)
    model.eval()
    done = tool.switch_to_deploy(model)
    model.eval()
    return done


def test_shvit_backbone_dynamic(tmp_path):
    model = tool.build_backbone('SHViT', 's1')
    with torch.no_grad():
        tool.randomize_norms(model)
        model.eval()
        ref = [o.clone() for o in model(torch.ones(1, 3, 64, 64))]
    assert tool.switch_to_deploy(model) == ['SHViT']
    model.eval()
    with torch.no_grad():  # the deploy model is the same function
        for a, b in zip(ref, model(torch.ones(1, 3, 64, 64))):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)
    out = str(tmp_path / 'shvit_s1.onnx')
    x = torch.randn(1, 3, 64, 64)
    names = tool.export(model, x, out, opset=17, dynamic=True)
    assert names == ['output0', 'output1', 'output2']
    errs = tool.parity(model, out, x)
    assert len(errs) == 3 and all(r < 1e-4 for _, r in errs), errs
    # dynamic batch and size: another batch size and input size
    x2 = torch.randn(3, 3, 96, 96)
    errs = tool.parity(model, out, x2)
    assert all(r < 1e-4 for _, r in errs), errs
    got = tool.run_onnx(out, x2)
    assert got[0].shape[0] == 3


def test_hamvit_dynamic_size_follows_the_position_embedding(tmp_path):
    model = tool.build_backbone('HAMViT', None)
    assert _deploy(model) == ['HAMViT']
    out = str(tmp_path / 'hamvit.onnx')
    x = torch.randn(1, 3, 224, 224)
    tool.export(model, x, out, opset=17, dynamic=True)
    # another size: the exported graph resizes the position embedding
    errs = tool.parity(model, out, torch.randn(2, 3, 256, 192))
    assert all(r < 1e-4 for _, r in errs), errs


def test_classifier_config_cli(tmp_path, capsys):
    out = str(tmp_path / 'cls.onnx')
    rc = tool.main([osp.join(ROOT, 'configs/imagenet_shvit_s1.py'),
                    '--shape', '64', '64', '--dynamic-batch-only',
                    '--dynamic', '--tol', '1e-4', '--out', out])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert 'BNLinearClsHead' in text and 'SHViT' in text
    assert text.count('[parity]') == 3  # static, dynamic batch, verdict
    got = tool.run_onnx(out, torch.randn(4, 3, 64, 64))
    assert got[0].shape == (4, 1000)
    assert np.isfinite(got[0]).all()


def test_missing_checkpoint_named(tmp_path, capsys):
    missing = str(tmp_path / 'nope.pth')
    rc = tool.main(['--backbone', 'SHViT', '--arch', 's1', '--checkpoint',
                    missing, '--out', str(tmp_path / 'x.onnx')])
    assert rc == 2
    assert missing in capsys.readouterr().err


def test_unknown_backbone(tmp_path):
    with pytest.raises(tool.ExportError, match='Unknown backbone'):
        tool.build_backbone('NoSuchNet')


def test_failing_op_is_named():
    msg = ("UnsupportedOperatorError: Exporting the operator "
           "'aten::foo_bar' to ONNX opset version 17 is not supported.")
    assert tool.failing_op(msg) == 'aten::foo_bar'


def test_harmovision_deploy_exports(tmp_path):
    """HarmoVision's deploy form (token-layout blocks, window attention as
    SDPA over unpadded windows) exports with its functional paths, at a size
    with partial windows at every stage."""
    model = tool.build_backbone('HarmoVision', 'n')
    assert _deploy(model) == ['HarmoVision']
    x = torch.randn(1, 3, 97, 131)
    out = str(tmp_path / 'harmovision_n.onnx')
    tool.export(model, x, out, opset=17, dynamic=False)
    errs = tool.parity(model, out, x)
    assert len(errs) == 4 and all(r < 1e-4 for _, r in errs), errs
