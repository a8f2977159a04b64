"""Timing a whole model's ``predict`` (a detector, segmentor or classifier as
a user runs it through ``test_step``), part by part.

Used by ``tools/analysis_tools/benchmark.py CONFIG --task``; the pieces:

* :func:`predict_batch` - one random image of a given size, packed as the
  test dataloader packs it (``inputs`` + data samples with the metainfo the
  task's ``predict`` reads), so ``model.test_step(batch)`` runs the data
  preprocessor, the model and its post-processing (box decoding, NMS, mask
  pasting, logit resizing);
* :class:`PartTimer` - wall time per part (backbone, neck, RPN, RoI heads,
  decode head, ...; the parts and what is timed of each:
  :mod:`mmhybrid.deploy.parts`), recorded by hooks on the parts'
  ``__call__`` and by wrapping their ``predict*`` methods (nothing on the
  model class changes);
* :func:`task_input_size` - the image size a config's test pipeline feeds
  its model.
"""
import time
from collections import OrderedDict

import torch

from mmhybrid.deploy import model_parts

def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


class PartTimer:
    """Accumulates the wall time of each part of ``model`` (its
    :func:`~mmhybrid.deploy.model_parts` whose role says what to time)
    while ``recording`` is True. Use as a context manager: hooks and method
    wrappers are removed on exit."""

    def __init__(self, model, device):
        self.model, self.device = model, device
        self.times = OrderedDict()
        self.recording = False
        self._undo = []

    def parts(self):
        """``[(label, module, how)]`` for the parts this model has, in the
        model's order; ``how`` is ``'call'`` (the module's ``__call__``) or
        the name of the method timed. A sub-part's label is
        ``parent.sub`` (a dense head's convolutions: ``rpn_head.convs``; a
        RoI head's members: ``roi_head.bbox RoIAlign``...); a cascade's
        stages add up under one label."""
        out, roi = [], None
        for part in model_parts(self.model):
            traits = part.traits
            if part.role == 'roi_head':
                roi = part.name
            if traits.roi_label is not None:
                if roi is None or not part.name.startswith(roi + '.'):
                    continue
                base = f'{roi}.{traits.roi_label}'
            else:
                base = part.name
            for how, suffix in traits.timed:
                if how == 'call' or callable(getattr(part.module, how, None)):
                    out.append((base + suffix, part.module, how))
        return out

    def mean_ms(self, iters):
        """``{label: ms per iteration}`` in :meth:`parts` order."""
        return {label: 1000 * self.times[label] / iters
                for label, _, _ in self.parts() if label in self.times}

    def _clock(self, label):
        starts = []

        def start(*_):
            _sync(self.device)
            starts.append(time.perf_counter())

        def stop(*_):
            _sync(self.device)
            t = time.perf_counter() - starts.pop()
            if self.recording:
                self.times[label] = self.times.get(label, 0.) + t

        return start, stop

    def __enter__(self):
        for label, module, how in self.parts():
            start, stop = self._clock(label)
            if how == 'call':
                handles = (module.register_forward_pre_hook(
                    lambda m, a, _s=start: _s(), prepend=True),
                    module.register_forward_hook(
                        lambda m, a, o, _s=stop: _s(), always_call=True))
                self._undo.append(lambda h=handles: [x.remove() for x in h])
                continue
            method = getattr(module, how)

            def timed(*args, _method=method, _start=start, _stop=stop,
                      **kwargs):
                _start()
                try:
                    return _method(*args, **kwargs)
                finally:
                    _stop()

            setattr(module, how, timed)  # an instance attribute, undone
            self._undo.append(lambda m=module, h=how: delattr(m, h))
        return self

    def __exit__(self, *exc):
        while self._undo:
            self._undo.pop()()


def task_input_size(cfg, task):
    """``(H, W)`` of the images the config's test pipeline gives its model:
    the test ``Resize`` scale (mmdet/mmseg write it ``(W, H)``; a
    keep-ratio resize fits the image inside it, so an image of exactly that
    size is the largest the model sees) for detection; the data
    preprocessor's ``size`` (the crop) for segmentation when set; the
    square crop/scale for classification."""
    if task == 'classification':
        from .runner import test_resolution
        size = test_resolution(cfg)
        return (size, size)
    if task == 'segmentation':
        size = cfg.model.get('data_preprocessor', {}).get('size')
        if size:
            return tuple(size)
    for t in cfg.test_dataloader.dataset.pipeline:
        v = t.get('scale')
        if isinstance(v, int):
            return (v, v)
        if v is not None:
            return (min(v), max(v)) if task == 'segmentation' else \
                (v[1], v[0])
    raise ValueError(f'no Resize scale or crop_size in the test pipeline of '
                     f'{cfg.filename}; give --shape H W')


def predict_batch(task, hw, device='cpu', seed=0, num_images=1):
    """A test batch of ``num_images`` random uint8 images of size ``hw``
    (what a test dataloader yields after ``PackDetInputs``/
    ``PackSegInputs``/``PackInputs``), for ``model.test_step``."""
    if int(num_images) < 1:
        raise ValueError(f'a batch needs at least one image, got '
                         f'num_images={num_images}')
    h, w = hw
    g = torch.Generator().manual_seed(seed)
    meta = dict(img_shape=(h, w), ori_shape=(h, w))
    if task == 'detection':
        from mmdet.structures import DetDataSample as Sample
        meta['scale_factor'] = (1., 1.)
    elif task == 'segmentation':
        from mmseg.structures import SegDataSample as Sample
        meta['scale_factor'] = (1., 1.)
    elif task == 'classification':
        from mmpretrain.structures import DataSample as Sample
    else:
        raise ValueError(f'unknown task {task!r}')
    imgs = [torch.randint(0, 256, (3, h, w), generator=g,
                          dtype=torch.uint8).to(device)
            for _ in range(int(num_images))]
    return dict(inputs=imgs,
                data_samples=[Sample(metainfo=dict(meta)) for _ in imgs])


def count_predictions(outputs):
    """Instances per image (detection), else None."""
    inst = getattr(outputs[0], 'pred_instances', None)
    return None if inst is None else len(inst)
