"""mmhybrid.engine.mmcv_ext_torchvision, the stand-in for mmcv's compiled
ops that the GPU figures ran with: its nms and roi_align (forward and
backward) give what mmcv's own compiled ops give, called the way mmcv's
Python code calls them; an op it does not have raises, naming the op. Its
installer copies it only into an mmcv without compiled ops."""
import importlib.util
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmcv.ops import nms as mmcv_nms
from mmcv.ops import roi_align as mmcv_roi_align

import mmhybrid.engine.mmcv_ext_torchvision as ext
from mmhybrid.engine import MMCV_EXT_STAND_IN, install_mmcv_ext_stand_in

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _boxes(n, gen):
    xy = torch.rand(n, 2, generator=gen) * 100
    wh = torch.rand(n, 2, generator=gen) * 40 + 1
    return torch.cat([xy, xy + wh], 1), torch.rand(n, generator=gen)


def test_nms_keeps_what_mmcv_keeps():
    gen = torch.Generator().manual_seed(0)
    boxes, scores = _boxes(300, gen)
    _, ref = mmcv_nms(boxes, scores, 0.5)
    keep = ext.nms(boxes, scores, iou_threshold=0.5, offset=0)
    assert len(keep) < len(boxes)  # the threshold does suppress boxes
    assert torch.equal(keep, ref)
    with pytest.raises(NotImplementedError, match='offset=1'):
        ext.nms(boxes, scores, iou_threshold=0.5, offset=1)


@pytest.mark.parametrize('aligned', [True, False])
def test_roi_align_forward_and_backward_equal_mmcv(aligned):
    gen = torch.Generator().manual_seed(1)
    feat = torch.randn(2, 8, 24, 32, generator=gen, dtype=torch.float64)
    boxes, _ = _boxes(12, gen)
    rois = torch.cat([torch.randint(0, 2, (12, 1), generator=gen).double(),
                      boxes.double() / 3], 1)
    grad_out = torch.randn(12, 8, 7, 7, generator=gen, dtype=torch.float64)
    x = feat.clone().requires_grad_()
    ref = mmcv_roi_align(x, rois, (7, 7), 0.25, 2, 'avg', aligned)
    ref.backward(grad_out)

    out = torch.zeros_like(ref)
    ext.roi_align_forward(feat, rois, out, None, None, aligned_height=7,
                          aligned_width=7, spatial_scale=0.25,
                          sampling_ratio=2, pool_mode=1, aligned=aligned)
    torch.testing.assert_close(out, ref.detach())
    grad_in = torch.zeros_like(feat)
    ext.roi_align_backward(grad_out, rois, None, None, grad_in,
                           aligned_height=7, aligned_width=7,
                           spatial_scale=0.25, sampling_ratio=2, pool_mode=1,
                           aligned=aligned)
    assert grad_in.abs().sum() > 0
    torch.testing.assert_close(grad_in, x.grad)


def test_missing_ops_raise_naming_the_op():
    assert hasattr(ext, 'deform_conv_forward')  # mmcv's load_ext check
    with pytest.raises(NotImplementedError, match="'deform_conv_forward'"):
        ext.deform_conv_forward(torch.zeros(1))
    with pytest.raises(NotImplementedError, match='max'):
        ext.roi_align_forward(None, None, None, None, None, 7, 7, 1.0, 0, 0,
                              True)


def test_install_copies_the_stand_in_as_mmcv_ext(tmp_path):
    mmcv_dir = tmp_path / 'mmcv'
    mmcv_dir.mkdir()
    (mmcv_dir / '__init__.py').write_text('')
    dst = install_mmcv_ext_stand_in(str(mmcv_dir))
    assert dst == str(mmcv_dir / '_ext.py')
    with open(dst) as a, open(MMCV_EXT_STAND_IN) as b:
        assert a.read() == b.read()
    # the copy stands alone: it imports only torch and torchvision
    spec = importlib.util.spec_from_file_location('copied_ext', dst)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert callable(mod.nms) and callable(mod.roi_align_forward)


def test_install_refuses_what_is_not_an_ops_less_mmcv(tmp_path):
    with pytest.raises(FileNotFoundError, match='no __init__.py'):
        install_mmcv_ext_stand_in(str(tmp_path))
    (tmp_path / '__init__.py').write_text('')
    (tmp_path / '_ext.cpython-312-x86_64-linux-gnu.so').write_bytes(b'')
    with pytest.raises(FileExistsError, match='compiled ops are installed'):
        install_mmcv_ext_stand_in(str(tmp_path))
    assert not (tmp_path / '_ext.py').exists()


def test_install_cli(tmp_path):
    (tmp_path / '__init__.py').write_text('')
    tool = 'tools/misc/mmcv_ext_torchvision.py'
    r = subprocess.run([sys.executable, tool, str(tmp_path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / '_ext.py').is_file()
    r = subprocess.run([sys.executable, tool, str(tmp_path / 'no')],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and 'no __init__.py' in r.stderr
