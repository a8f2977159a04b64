"""mmhybrid.engine.mmcv_ext_torchvision, the stand-in for mmcv's compiled
ops that ``make install`` puts into mmcv-lite: its nms, roi_align (forward
and backward) and sigmoid focal loss (forward and backward) give what
mmcv's own op tests expect (open-mmlab/mmcv v2.1.0, tests/test_ops/:
test_nms.py, test_roi_align.py, test_focal_loss.py; their inputs and
expected figures) and what mmcv's compiled ops give here, called the way
mmcv's Python code calls them, tied NMS scores included; an op it does not
have raises, naming the op and ``make install MMCV=full``. Its installer
copies it only into an mmcv without compiled ops, and removal removes only
it."""
import os.path as osp
import shutil
import subprocess
import sys

import mmcv
import pytest
import torch
from mmcv.ops import nms as mmcv_nms
from mmcv.ops import roi_align as mmcv_roi_align
from torchvision.ops import nms as tv_nms

import mmhybrid.engine.mmcv_ext_torchvision as ext
from mmhybrid.engine import (MMCV_EXT_STAND_IN, install_mmcv_ext_stand_in,
                             is_mmcv_ext_stand_in, record_mmcv_ext_calls,
                             remove_mmcv_ext_stand_in)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = 'tools/misc/mmcv_ext_torchvision.py'


def _boxes(n, gen, spread=100):
    xy = torch.rand(n, 2, generator=gen) * spread
    wh = torch.rand(n, 2, generator=gen) * 40 + 1
    return torch.cat([xy, xy + wh], 1), torch.rand(n, generator=gen)


# --- mmcv v2.1.0's published expectations (tests/test_ops/) -------------

def test_nms_mmcv_published_case():
    # test_nms.py::test_nms_allclose
    boxes = torch.tensor([[6.0, 3.0, 8.0, 7.0], [3.0, 6.0, 9.0, 11.0],
                          [3.0, 7.0, 10.0, 12.0], [1.0, 4.0, 13.0, 7.0]])
    scores = torch.tensor([0.6, 0.9, 0.7, 0.2])
    keep = ext.nms(boxes, scores, iou_threshold=0.3, offset=0)
    assert keep.tolist() == [1, 0, 3]


# test_roi_align.py: (input, rois) -> (output, grad of sum(output)), pooled
# 2x2, spatial_scale 1, sampling_ratio 2, aligned
ROI_ALIGN_CASES = [
    ([[[[1., 2.], [3., 4.]]]], [[0., 0., 0., 1., 1.]],
     [[[[1.0, 1.25], [1.5, 1.75]]]],
     [[[[3.0625, 0.4375], [0.4375, 0.0625]]]]),
    ([[[[1., 2.], [3., 4.]], [[4., 3.], [2., 1.]]]], [[0., 0., 0., 1., 1.]],
     [[[[1.0, 1.25], [1.5, 1.75]], [[4.0, 3.75], [3.5, 3.25]]]],
     [[[[3.0625, 0.4375], [0.4375, 0.0625]],
       [[3.0625, 0.4375], [0.4375, 0.0625]]]]),
    ([[[[1., 2., 5., 6.], [3., 4., 7., 8.], [9., 10., 13., 14.],
        [11., 12., 15., 16.]]]], [[0., 0., 0., 3., 3.]],
     [[[[1.9375, 4.75], [7.5625, 10.375]]]],
     [[[[0.47265625, 0.42968750, 0.42968750, 0.04296875],
        [0.42968750, 0.39062500, 0.39062500, 0.03906250],
        [0.42968750, 0.39062500, 0.39062500, 0.03906250],
        [0.04296875, 0.03906250, 0.03906250, 0.00390625]]]]),
]


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('case', range(len(ROI_ALIGN_CASES)))
def test_roi_align_mmcv_published_cases(case, dtype):
    feat, rois, expected, expected_grad = (
        torch.tensor(v, dtype=dtype) for v in ROI_ALIGN_CASES[case])
    out = torch.zeros_like(expected)
    ext.roi_align_forward(feat, rois, out, None, None, aligned_height=2,
                          aligned_width=2, spatial_scale=1.0,
                          sampling_ratio=2, pool_mode=1, aligned=True)
    grad = torch.zeros_like(feat)
    ext.roi_align_backward(torch.ones_like(out), rois, None, None, grad,
                           aligned_height=2, aligned_width=2,
                           spatial_scale=1.0, sampling_ratio=2, pool_mode=1,
                           aligned=True)
    # mmcv's tolerance is atol 1e-3; these figures are exact in binary
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-6)


# test_focal_loss.py: (logits, targets) -> (mean loss, its gradient),
# gamma 2, alpha 0.25, no weight
FOCAL_CASES = [
    ([[1., 0], [0, 1.]], [0, 1], 0.13562961,
     [[-0.00657264, 0.11185755], [0.11185755, -0.00657264]]),
    ([[1., 0, -1.], [0, 1., 2.]], [2, 1], 1.10251057,
     [[0.28808805, 0.11185755, -0.09602935],
      [0.11185755, -0.00657264, 0.40376765]]),
    ([[1e-6, 2e-6, 3e-6], [4e-6, 5e-5, 6e-4], [7e-3, 8e-2, 9e-1]], [1, 2, 0],
     0.42287254,
     [[0.07457182, -0.02485716, 0.07457201],
      [0.07457211, 0.07457669, -0.02483728],
      [-0.02462499, 0.08277918, 0.18050370]]),
]


def _focal_mean(logits, target, weight=None, gamma=2.0, alpha=0.25):
    """mean loss and its gradient, as mmcv's SigmoidFocalLossFunction
    computes them from the two ops (reduction 'mean')."""
    weight = logits.new_empty(0) if weight is None else weight
    out = torch.zeros_like(logits)
    ext.sigmoid_focal_loss_forward(logits, target, weight, out, gamma=gamma,
                                   alpha=alpha)
    grad = torch.zeros_like(logits)
    ext.sigmoid_focal_loss_backward(logits, target, weight, grad,
                                    gamma=gamma, alpha=alpha)
    return out.sum() / logits.size(0), grad / logits.size(0)


@pytest.mark.parametrize('case', range(len(FOCAL_CASES)))
def test_sigmoid_focal_loss_mmcv_published_cases(case):
    logits, target, loss_ref, grad_ref = FOCAL_CASES[case]
    loss, grad = _focal_mean(torch.tensor(logits), torch.tensor(target))
    # mmcv's tolerance is rtol 1e-2; its figures have 8 digits
    torch.testing.assert_close(loss, torch.tensor(loss_ref), rtol=1e-5,
                               atol=1e-7)
    torch.testing.assert_close(grad, torch.tensor(grad_ref), rtol=1e-4,
                               atol=1e-7)


# --- equality with mmcv's compiled ops present here -----------------------

@pytest.mark.parametrize('n', [50, 300, 3000])
def test_nms_with_tied_scores_keeps_mmcvs_order(n):
    gen = torch.Generator().manual_seed(n)
    differs_plain = suppressed = 0
    for thr in (0.3, 0.5, 0.7):
        boxes, scores = _boxes(n, gen, spread=30)
        scores = (scores * 4).round() / 4  # 5 distinct scores: many ties
        _, ref = mmcv_nms(boxes, scores, thr)
        keep = ext.nms(boxes, scores, iou_threshold=thr, offset=0)
        suppressed += n - len(ref)
        assert torch.equal(keep, ref)
        differs_plain += not torch.equal(tv_nms(boxes, scores, thr), ref)
    # the input does tell the orders apart: NMS suppresses boxes, and
    # torchvision's own tie-breaking differs from mmcv's
    assert suppressed > 0 and differs_plain > 0


def test_nms_keeps_what_mmcv_keeps():
    gen = torch.Generator().manual_seed(0)
    boxes, scores = _boxes(300, gen)
    _, ref = mmcv_nms(boxes, scores, 0.5)
    keep = ext.nms(boxes, scores, iou_threshold=0.5, offset=0)
    assert len(keep) < len(boxes)
    assert torch.equal(keep, ref)
    empty = ext.nms(boxes[:0], scores[:0], 0.5)
    assert empty.dtype == torch.long and empty.numel() == 0
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


def test_sigmoid_focal_loss_equals_mmdets_formula():
    """mmcv has no CPU kernel of sigmoid focal loss; mmdet's
    py_sigmoid_focal_loss (its CPU path, the same formula) is the check,
    forward and autograd backward, with and without class weights."""
    from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(64, 5, generator=gen) * 4
    target = torch.randint(0, 6, (64, ), generator=gen)  # 5: background
    onehot = torch.nn.functional.one_hot(target, 6)[:, :5].float()
    x = logits.clone().requires_grad_()
    ref = py_sigmoid_focal_loss(x, onehot, gamma=2.0, alpha=0.25,
                                reduction='sum')
    ref.backward()
    loss, grad = _focal_mean(logits, target)
    torch.testing.assert_close(loss * 64, ref.detach(), rtol=1e-5, atol=0)
    torch.testing.assert_close(grad * 64, x.grad, rtol=1e-4, atol=1e-6)

    # class weights scale row n by weight[target[n]] (mmcv's kernel)
    target = target.clamp_max(4)
    weight = torch.rand(5, generator=gen)
    w_loss, w_grad = _focal_mean(logits, target, weight)
    loss, grad = _focal_mean(logits, target)
    rows = weight[target].view(-1, 1)
    out_w = torch.zeros_like(logits)
    ext.sigmoid_focal_loss_forward(logits, target, weight, out_w)
    out = torch.zeros_like(logits)
    ext.sigmoid_focal_loss_forward(logits, target, logits.new_empty(0), out)
    torch.testing.assert_close(out_w, out * rows)
    torch.testing.assert_close(w_grad, grad * rows)
    with pytest.raises(ValueError, match='outside the class weights'):
        _focal_mean(logits, torch.full((64, ), 5), weight)
    with pytest.raises(ValueError, match='N x C'):
        _focal_mean(logits[0], target)


def test_missing_ops_raise_naming_the_op_and_full_mmcv():
    assert hasattr(ext, 'deform_conv_forward')  # mmcv's load_ext check
    with pytest.raises(NotImplementedError,
                       match="'deform_conv_forward'.*make install MMCV=full"):
        ext.deform_conv_forward(torch.zeros(1))
    with pytest.raises(NotImplementedError, match='max.*MMCV=full'):
        ext.roi_align_forward(None, None, None, None, None, 7, 7, 1.0, 0, 0,
                              True)


def test_record_mmcv_ext_calls_counts_and_restores():
    import importlib
    mod = importlib.import_module('mmcv._ext')
    before = mod.nms
    gen = torch.Generator().manual_seed(3)
    boxes, scores = _boxes(10, gen)
    with record_mmcv_ext_calls() as calls:
        mmcv_nms(boxes, scores, 0.5)
        mmcv_nms(boxes, scores, 0.5)
    mmcv_nms(boxes, scores, 0.5)  # after the block: not counted
    assert calls == {('nms', 'cpu'): 2}
    assert mod.nms is before


# --- the installer ---------------------------------------------------------

def _fake_mmcv(tmp_path):
    mmcv_dir = tmp_path / 'mmcv'
    mmcv_dir.mkdir()
    (mmcv_dir / '__init__.py').write_text('')
    return mmcv_dir


def test_install_copies_the_stand_in_and_remove_removes_only_it(tmp_path):
    mmcv_dir = _fake_mmcv(tmp_path)
    dst = install_mmcv_ext_stand_in(str(mmcv_dir))
    assert dst == str(mmcv_dir / '_ext.py')
    with open(dst) as a, open(MMCV_EXT_STAND_IN) as b:
        assert a.read() == b.read()
    assert is_mmcv_ext_stand_in(dst)
    assert install_mmcv_ext_stand_in(str(mmcv_dir)) == dst  # idempotent
    # its bytecode goes with it; a compiled _ext beside it stays
    (mmcv_dir / '__pycache__').mkdir()
    pyc = mmcv_dir / '__pycache__' / '_ext.cpython-311.pyc'
    pyc.write_bytes(b'')
    other_pyc = mmcv_dir / '__pycache__' / 'version.cpython-311.pyc'
    other_pyc.write_bytes(b'')
    so = mmcv_dir / '_ext.cpython-311-x86_64-linux-gnu.so'
    so.write_bytes(b'\x7fELF')
    assert remove_mmcv_ext_stand_in(str(mmcv_dir)) == [dst, str(pyc)]
    assert not osp.exists(dst) and not pyc.exists()
    assert so.exists() and other_pyc.exists()
    assert remove_mmcv_ext_stand_in(str(mmcv_dir)) == []


def test_install_and_remove_refuse_what_is_not_theirs(tmp_path):
    with pytest.raises(FileNotFoundError, match='no __init__.py'):
        install_mmcv_ext_stand_in(str(tmp_path))
    with pytest.raises(FileNotFoundError, match='no __init__.py'):
        remove_mmcv_ext_stand_in(str(tmp_path))
    mmcv_dir = _fake_mmcv(tmp_path)
    (mmcv_dir / '_ext.cpython-312-x86_64-linux-gnu.so').write_bytes(b'')
    with pytest.raises(FileExistsError, match='compiled ops are installed'):
        install_mmcv_ext_stand_in(str(mmcv_dir))
    assert not (mmcv_dir / '_ext.py').exists()
    # an _ext.py that is not ours is neither replaced nor removed
    other = tmp_path / 'other'
    other.mkdir()
    (other / '__init__.py').write_text('')
    (other / '_ext.py').write_text('def nms(): pass\n')
    with pytest.raises(FileExistsError, match='not the mmhybrid stand-in'):
        install_mmcv_ext_stand_in(str(other))
    with pytest.raises(FileExistsError, match='not the mmhybrid stand-in'):
        remove_mmcv_ext_stand_in(str(other))
    assert (other / '_ext.py').read_text() == 'def nms(): pass\n'


def test_install_cli(tmp_path):
    mmcv_dir = _fake_mmcv(tmp_path)
    r = subprocess.run([sys.executable, TOOL, str(mmcv_dir)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (mmcv_dir / '_ext.py').is_file() and '--remove' in r.stdout
    r = subprocess.run([sys.executable, TOOL, '--remove', str(mmcv_dir)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert not (mmcv_dir / '_ext.py').exists() and 'removed' in r.stdout
    r = subprocess.run([sys.executable, TOOL, str(tmp_path / 'no')],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and 'no __init__.py' in r.stderr


def test_stand_in_serves_mmcv_ops_in_an_mmcv_without_ops(tmp_path):
    """mmcv's own Python package without its compiled _ext (what mmcv-lite
    is), with the stand-in installed: mmcv.ops imports and runs through
    it, an op it lacks names itself."""
    src = osp.dirname(mmcv.__file__)
    dst = tmp_path / 'mmcv'
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(
        '_ext*.so', '_ext*.pyd', '_ext.py', '__pycache__', 'csrc'))
    install_mmcv_ext_stand_in(str(dst))
    code = '\n'.join([
        'import importlib, torch, mmcv.ops',
        'ext = importlib.import_module("mmcv._ext")',
        f'assert ext.__file__ == {str(dst / "_ext.py")!r}, ext.__file__',
        'b = torch.tensor([[0., 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]])',
        'print(mmcv.ops.nms(b, torch.tensor([.5, .5, .5]), .5)[1].tolist())',
        'x = torch.tensor([[1., 0, -1], [0, 1, 2]], requires_grad=True)',
        'loss = mmcv.ops.sigmoid_focal_loss(x, torch.tensor([2, 1]), 2., .25)',
        'loss.backward()',
        'print(round(loss.item(), 6), x.grad.abs().sum().item() > 0)',
        'try:',
        '    mmcv.ops.box_iou_rotated(torch.zeros(1, 5), torch.zeros(1, 5))',
        'except NotImplementedError as e:',
        '    print(e)',
    ])
    r = subprocess.run([sys.executable, '-c', code], cwd=str(tmp_path),
                       env={**__import__('os').environ,
                            'PYTHONPATH': str(tmp_path)},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert lines[0] == '[0, 2]'
    assert lines[1] == f'{round(1.10251057, 6)} True'  # mmcv's figure
    assert "'box_iou_rotated'" in lines[2] and 'MMCV=full' in lines[2]
