"""A stand-in for mmcv's compiled ``mmcv._ext``, backed by torchvision.

Only for a machine where mmcv's compiled ops cannot be had: the GPU machine
lent to this project runs a torch (2.11, CUDA 13) for which no CUDA build of
mmcv 2.1.0 exists and which leaves no time to compile one. There mmcv is
installed without ops and this file is copied to ``mmcv/_ext.py``
(:func:`mmhybrid.engine.install_mmcv_ext_stand_in`, or its command line
``tools/misc/mmcv_ext_torchvision.py``) before ``tools/misc/gpu_figures.sh``
runs (the script itself does neither)::

    # where pip works: mmcv's Python code alone, as a wheel
    pip download mmcv==2.1.0 --no-deps --no-binary :all:
    tar xzf mmcv-2.1.0.tar.gz && cd mmcv-2.1.0
    MMCV_WITH_OPS=0 python setup.py bdist_wheel   # dist/mmcv_lite-*.whl
    # on the GPU machine, with that wheel and mmengine/mmdet/... wheels
    pip install --no-deps --target /tmp/site WHEELS
    PYTHONPATH=/tmp/site python tools/misc/mmcv_ext_torchvision.py \
        /tmp/site/mmcv
    PYTHONPATH=/tmp/site bash tools/misc/gpu_figures.sh OUT_DIR

The file imports only torch and torchvision (it is imported as part of mmcv,
before mmhybrid). What it implements runs torchvision's kernels, which
compute the same thing:
- ``nms`` (offset 0 only; mmdet's default) -> ``torchvision.ops.nms``;
- ``roi_align_forward`` / ``roi_align_backward`` (average pooling only) ->
  torchvision's ``roi_align`` and its backward op.

Every other op of mmcv imports, so that mmdet/mmseg import as usual, and
raises a clear error when called. Never install this where mmcv's own ops
work: they are the reference.
"""
import torch
import torchvision  # noqa: F401  (registers torch.ops.torchvision)
from torchvision.ops import nms as _tv_nms
from torchvision.ops import roi_align as _tv_roi_align


def nms(boxes, scores, iou_threshold, offset=0):
    if offset != 0:
        raise NotImplementedError(
            f'mmcv._ext stand-in: nms with offset={offset} is not available '
            '(torchvision computes offset 0 only); install mmcv with ops')
    return _tv_nms(boxes, scores, float(iou_threshold))


def _check_avg(pool_mode):
    if pool_mode != 1:
        raise NotImplementedError(
            'mmcv._ext stand-in: roi_align with pool_mode="max" is not '
            'available (torchvision pools by average only); install mmcv '
            'with ops')


def roi_align_forward(input, rois, output, argmax_y, argmax_x, aligned_height,
                      aligned_width, spatial_scale, sampling_ratio, pool_mode,
                      aligned):
    _check_avg(pool_mode)
    output.copy_(
        _tv_roi_align(input, rois.to(input.dtype),
                      (aligned_height, aligned_width), spatial_scale,
                      sampling_ratio, aligned))


def roi_align_backward(grad_output, rois, argmax_y, argmax_x, grad_input,
                       aligned_height, aligned_width, spatial_scale,
                       sampling_ratio, pool_mode, aligned):
    _check_avg(pool_mode)
    n, c, h, w = grad_input.shape
    grad_input.copy_(
        torch.ops.torchvision._roi_align_backward(
            grad_output, rois.to(grad_output.dtype), spatial_scale,
            aligned_height, aligned_width, n, c, h, w, sampling_ratio,
            aligned))


def __getattr__(name):
    if name.startswith('__'):
        raise AttributeError(name)

    def unavailable(*args, **kwargs):
        raise NotImplementedError(
            f'mmcv._ext stand-in: the op {name!r} is not available here '
            '(only nms and roi_align are); install mmcv with its compiled ops')

    unavailable.__name__ = name
    return unavailable
