"""tools/test.py --backend onnxruntime: a file of the wrong kind, or a
PyTorch-only form, ends with a sentence naming it (the metrics themselves:
tests/test_deploy/test_export_whole.py)."""
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/demo/maskrcnn_shvit_s1_toy.py'


def _run(*args):
    return subprocess.run([sys.executable, 'tools/test.py', CONFIG, *args],
                          cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_onnx_file_needs_the_onnxruntime_backend(tmp_path):
    onnx = tmp_path / 'model.onnx'
    onnx.write_bytes(b'')
    r = _run(str(onnx))
    assert r.returncode != 0
    assert '--backend pytorch takes a PyTorch checkpoint' in r.stderr
    assert 'model.onnx' in r.stderr


def test_onnxruntime_backend_needs_an_onnx_file(tmp_path):
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'')
    r = _run(str(ckpt), '--backend', 'onnxruntime')
    assert r.returncode != 0
    assert '--backend onnxruntime takes a .onnx file' in r.stderr


def test_deploy_is_not_an_onnxruntime_form(tmp_path):
    onnx = tmp_path / 'model.onnx'
    onnx.write_bytes(b'')
    r = _run(str(onnx), '--backend', 'onnxruntime', '--deploy')
    assert r.returncode != 0
    assert 'the ONNX file is already the deploy form' in r.stderr
