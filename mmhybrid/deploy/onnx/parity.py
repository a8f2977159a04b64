"""Run an exported ONNX file with stock onnxruntime and compare it with the
PyTorch model's ``predict`` on the same input: matched detections' boxes
and scores, mask IoU, seg-map agreement (:func:`compare`); time both in one
process with the same threads (:func:`time_onnx_vs_torch`)."""
import copy
import statistics
import time

import numpy as np
import torch

from .session import ExportError, onnx_session, run_session

#: default tolerances of :func:`check`
TOLERANCES = dict(match=1.0, box=0.5, score=1e-3, mask_iou=0.98,
                  seg_agreement=0.999)


def _as_input_image(data_samples, shape):
    """Samples whose image is the whole input (``img_shape`` = ``shape``,
    as the exported graph takes it), unpadded, not rescaled."""
    samples = copy.deepcopy(data_samples)
    h, w = int(shape[0]), int(shape[1])
    for s in samples:
        s.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w),
                            batch_input_shape=(h, w), pad_shape=(h, w),
                            padding_size=[0, 0, 0, 0], scale_factor=(1., 1.)))
    return samples


def torch_predict(model, inputs, data_samples, task):
    """The PyTorch model's ``predict`` on the exported graph's terms:
    detections in the input's pixels (masks at the input size), or the
    class map at the input size."""
    samples = _as_input_image(data_samples, inputs.shape[-2:])
    with torch.no_grad():
        if task == 'segmentation':
            return model.predict(inputs, samples)
        return model.predict(inputs, samples, rescale=False)


def _box_iou(a, b):
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: np.clip(x[:, 2:] - x[:, :2], 0, None).prod(-1)  # noqa
    return inter / np.maximum(area(a)[:, None] + area(b)[None] - inter,
                              1e-9)


def compare_detections(ref, dets, labels, masks=None, min_iou=0.5):
    """Greedy matching (same label, highest box IoU >= ``min_iou``, in
    PyTorch's score order) of the PyTorch ``pred_instances`` ``ref`` with
    the ONNX ``dets`` (N x 5), ``labels`` (N) and ``masks`` (N x H x W
    probabilities). Returns the figures (see :func:`format_figures`)."""
    rb = ref.bboxes.numpy()
    rs = ref.scores.numpy()
    rl = ref.labels.numpy()
    keep = dets[:, 4] > 0  # mmdeploy pads with zero-score rows
    ob, os_, ol = dets[keep, :4], dets[keep, 4], labels[keep]
    om = None if masks is None else masks[keep] >= 0.5
    rm = ref.masks.numpy().astype(bool) if 'masks' in ref else None
    iou = _box_iou(rb, ob) if len(rb) and len(ob) else np.zeros(
        (len(rb), len(ob)))
    taken = np.zeros(len(ob), bool)
    box_err, score_err, mask_ious = [], [], []
    for i in np.argsort(-rs):
        cand = np.where((ol == rl[i]) & ~taken & (iou[i] >= min_iou))[0]
        if not len(cand):
            continue
        j = cand[np.argmax(iou[i, cand])]
        taken[j] = True
        box_err.append(float(np.abs(rb[i] - ob[j]).max()))
        score_err.append(abs(float(rs[i] - os_[j])))
        if rm is not None and om is not None:
            inter = np.logical_and(rm[i], om[j]).sum()
            union = np.logical_or(rm[i], om[j]).sum()
            mask_ious.append(float(inter / union) if union else 1.)
    n = max(len(rb), len(ob))
    figures = dict(torch_dets=len(rb), onnx_dets=len(ob),
                   matched=len(box_err),
                   match=len(box_err) / n if n else 1.,
                   box=max(box_err, default=0.),
                   score=max(score_err, default=0.))
    if mask_ious:
        figures.update(mask_iou=min(mask_ious),
                       mean_mask_iou=float(np.mean(mask_ious)))
    return figures


def compare_segmentation(ref_map, onnx_map):
    """Share of pixels where the class maps agree."""
    ref_map = np.asarray(ref_map).reshape(-1)
    onnx_map = np.asarray(onnx_map).reshape(-1)
    if ref_map.shape != onnx_map.shape:
        raise ExportError(f'class map of {onnx_map.size} pixels from ONNX, '
                          f'{ref_map.size} from PyTorch')
    return dict(seg_agreement=float((ref_map == onnx_map).mean()),
                pixels=int(ref_map.size))


def compare(model, task, inputs, data_samples, outputs):
    """Figures of the ONNX ``outputs`` (one image's batch) against
    ``model``'s predict on ``inputs``."""
    ref = torch_predict(model, inputs, data_samples, task)[0]
    if task == 'segmentation':
        return compare_segmentation(ref.pred_sem_seg.data.numpy(),
                                    outputs[0][0])
    dets, labels = outputs[0][0], outputs[1][0]
    masks = outputs[2][0] if len(outputs) > 2 else None
    return compare_detections(ref.pred_instances, dets, labels, masks)


def failures(figures, tolerances=None, require_detections=True):
    """``['name value vs tol', ...]`` for figures past their tolerance; no
    detection on either side is one too, unless ``require_detections`` is
    false (a randomly initialised detector)."""
    tol = dict(TOLERANCES, **(tolerances or {}))
    bad = []
    for key in ('match', 'mask_iou', 'seg_agreement'):  # higher is better
        if key in figures and figures[key] < tol[key]:
            bad.append(f'{key} {figures[key]:.4f} < {tol[key]}')
    for key in ('box', 'score'):  # lower is better
        if key in figures and figures[key] > tol[key]:
            bad.append(f'{key} error {figures[key]:.3g} > {tol[key]}')
    if require_detections and figures.get('torch_dets', 1) == 0:
        bad.append('no detection on the image: nothing was compared '
                   '(a trained checkpoint is needed)')
    return bad


def format_figures(figures):
    """One line of figures."""
    if 'seg_agreement' in figures:
        return (f"seg-map agreement {figures['seg_agreement']:.6f} of "
                f"{figures['pixels']} pixels")
    line = (f"detections torch {figures['torch_dets']}, onnx "
            f"{figures['onnx_dets']}, matched {figures['matched']}; "
            f"max box err {figures['box']:.3g} px, max score err "
            f"{figures['score']:.3g}")
    if 'mask_iou' in figures:
        line += (f"; mask IoU min {figures['mask_iou']:.4f} mean "
                 f"{figures['mean_mask_iou']:.4f}")
    return line


def _median_ms(fn, repeats, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def time_onnx_vs_torch(model, onnx_path, inputs, data_samples, threads=1,
                       repeats=5, warmup=2, providers=None):
    """Median latency of the whole model, PyTorch ``predict`` (``model`` as
    given: pass its deploy form, ``switch_to_deploy``) against onnxruntime
    on ``onnx_path``, on the same input and the same number of threads, in
    this process. Returns ``dict(torch_ms, onnx_ms, ratio, threads)``;
    ``ratio`` is torch / onnx (> 1: onnxruntime is faster)."""
    sess = onnx_session(onnx_path, threads, providers)
    x = inputs.numpy()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        samples = _as_input_image(data_samples, inputs.shape[-2:])

        def run_torch():
            with torch.no_grad():
                model.predict(inputs, samples)

        torch_ms = _median_ms(run_torch, repeats, warmup)
        onnx_ms = _median_ms(lambda: run_session(sess, x), repeats, warmup)
    finally:
        torch.set_num_threads(before)
    return dict(torch_ms=torch_ms, onnx_ms=onnx_ms,
                ratio=torch_ms / onnx_ms, threads=threads,
                providers=sess.get_providers())


def check_export(result, image=None, shapes=None, threads=None):
    """Parity of an :func:`~.onnx.export_model` result on a real image
    (default: :func:`~.onnx.sample_image`): the model as trained
    (``result.reference``) against onnxruntime, at each input size of
    ``shapes`` (default: the exported one; a static file runs only at that
    size). Returns ``[(input_shape, figures), ...]``."""
    from .exporter import create_input
    model = result.reference
    sess = onnx_session(result.path, threads)
    shapes = shapes or [result.input_shape[-2:]]
    out = []
    for shape in shapes:
        data, inputs = create_input(result.cfg, result.deploy_cfg, model,
                                    image, shape)
        outputs = run_session(sess, inputs)
        out.append((tuple(inputs.shape), compare(
            model, result.task, inputs, data['data_samples'], outputs)))
    return out
