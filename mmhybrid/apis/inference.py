"""Predict on images with an mmhybrid config through its framework's own
inferencer, and draw the picture a user wants to see.

The task comes from the config (:func:`mmhybrid.apis.config_task`):

* detection: mmdet ``DetInferencer``; boxes and masks drawn by
  :func:`mmhybrid.visualization.draw_detections` (labels beside the boxes,
  scores in [0, 1] as the console prints them: ``rectangle: 0.7399``);
* segmentation: mmseg ``MMSegInferencer`` (the class map blended over the
  image by ``SegLocalVisualizer``);
* classification: mmpretrain ``ImageClassificationInferencer``; the image
  with its top-k classes and scores in a panel beside it
  (:func:`draw_topk`).

The inferencer is built with random weights and a checkpoint is then loaded
with the checked loader (:func:`mmhybrid.models.utils.load_model_checkpoint`:
read safely, refused with the offending keys when it does not fit). Class
names and palette come from the checkpoint's ``meta['dataset_meta']`` as the
inferencers do it, else from the config's test dataset.

Used by ``tools/inference.py``.
"""
import math
import os
import os.path as osp
import warnings

import numpy as np

from .errors import ImageReadError
from .explain import explain_errors
from .images import IMAGE_EXTENSIONS, list_images, read_image
from .runner import config_task, load_config

__all__ = [
    'IMAGE_EXTENSIONS', 'MAX_SIZE', 'SEG_BUDGET', 'ImagePredictor',
    'ImageReadError', 'checkpoint_dataset_meta', 'default_max_size',
    'draw_topk', 'list_images', 'read_image', 'save_png'
]

# what the inferencers warn when they are built without weights: we load
# the checkpoint (or say that there is none) ourselves
_NO_WEIGHTS_WARNINGS = (
    r'(Checkpoint is not loaded|weights is None|dataset_meta or class names '
    r'are not saved|Unable to find pre-defined checkpoint|Failed to add '
    r'.*save_dir)')

_CHECKPOINT_HINT = ('Is it a checkpoint of this config? To load what fits on '
                    'purpose, pass --allow-partial-load.')


#: The longest side, in pixels, at which an image is predicted and drawn by
#: default; a larger one is resized down to it (the inferencers keep
#: full-size results and pictures: masks, class maps, the blended image).
MAX_SIZE = 4096
#: Segmentation: the memory that the full-size results may take by default
#: (:func:`default_max_size`). Measured peak (RSS) of ``tools/inference.py``
#: on CPU: 0.75 GB plus, per pixel of the image, 265 bytes (decoded image,
#: class map, blended picture and their copies) and 4 bytes per class (the
#: float32 class scores mmseg resizes to the image and keeps): 18.6 GB for
#: an 8000x8000 image and 4 classes.
SEG_BUDGET = 2 << 30
_SEG_BYTES_PER_PIXEL = 265


def default_max_size(task, num_classes=None):
    """The default longest side (px) of an image to predict on:
    :data:`MAX_SIZE`, and for segmentation at most the side of a square
    image whose full-size results fit in :data:`SEG_BUDGET` (2 GiB: 2764 px
    for 4 classes, 1575 px for ADE20K's 150; peak about 3 GB)."""
    limit = MAX_SIZE
    if task == 'segmentation':
        per_pixel = _SEG_BYTES_PER_PIXEL + 4 * (num_classes or 0)
        limit = min(limit, int(math.sqrt(SEG_BUDGET / per_pixel)))
    return limit


def save_png(picture, path):
    """Write an RGB uint8 array as a PNG file; returns ``path``."""
    from PIL import Image
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    Image.fromarray(np.ascontiguousarray(picture, dtype=np.uint8)).save(
        path, format='PNG')
    return path


def _font(size):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def draw_topk(image, names, scores, title=None):
    """The RGB ``image`` unchanged at the top left, and beside it a panel
    listing ``names`` with their ``scores`` (in [0, 1]) as text and bars.
    The canvas is as high as the image, or higher when the list needs it.
    Returns an RGB uint8 array."""
    from PIL import Image, ImageDraw

    from mmhybrid.visualization import score_text
    image = np.asarray(image, dtype=np.uint8)
    h, w = image.shape[:2]
    size = int(np.clip(h // 14, 12, 22))
    font, small = _font(size), _font(max(10, size - 2))
    pad, line = size // 2 + 2, int(size * 2.4)
    title = title or f'top-{len(names)}'
    rows = [f'{i + 1}. {str(n)[:32]}' for i, n in enumerate(names)]
    probe = ImageDraw.Draw(Image.new('RGB', (1, 1)))
    text_w = max(probe.textlength(t, font=font) for t in [title] + rows)
    panel_w = int(max(text_w, 8 * size) + 2 * pad + 4 * size)
    panel_h = pad * 2 + line * (len(rows) + 1)
    canvas = Image.new('RGB', (w + panel_w, max(h, panel_h)), 'white')
    canvas.paste(Image.fromarray(image), (0, 0))
    draw = ImageDraw.Draw(canvas)
    x0, y = w + pad, pad
    draw.text((x0, y), title, fill=(20, 20, 20), font=font)
    y += line
    bar_w = panel_w - 2 * pad
    for row, score in zip(rows, scores):
        score = float(score)
        draw.text((x0, y), row, fill=(20, 20, 20), font=font)
        bar_y = y + size + 4
        draw.rectangle([x0, bar_y, x0 + bar_w, bar_y + size // 2],
                       fill=(225, 228, 235))
        draw.rectangle(
            [x0, bar_y, x0 + int(bar_w * min(max(score, 0.), 1.)),
             bar_y + size // 2], fill=(55, 110, 190))
        label = score_text(score)
        draw.text((x0 + bar_w - probe.textlength(label, font=small), y + 1),
                  label, fill=(60, 60, 60), font=small)
        y += line
    return np.asarray(canvas)


def checkpoint_dataset_meta(checkpoint):
    """The dataset meta a checkpoint carries, as the inferencers read it:
    ``meta['dataset_meta']`` (OpenMMLab 2.x), else ``meta['CLASSES']`` /
    ``meta['PALETTE']`` (1.x); ``None`` when there is none."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict):
        return None
    if isinstance(meta.get('dataset_meta'), dict):
        return dict(meta['dataset_meta'])
    if 'CLASSES' in meta:
        out = {'classes': meta['CLASSES']}
        if meta.get('PALETTE') is not None:
            out['palette'] = meta['PALETTE']
        return out
    return None


def _framework_datasets(task):
    if task == 'detection':
        from mmdet.registry import DATASETS
    elif task == 'segmentation':
        from mmseg.registry import DATASETS
    else:
        from mmpretrain.registry import DATASETS
    return DATASETS


def _config_dataset_meta(cfg, task):
    """Classes/palette of the config's test dataset: its class's
    ``METAINFO`` updated by the config's ``metainfo`` (nothing is read from
    disk)."""
    dataset = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    meta = {}
    try:
        cls = _framework_datasets(task).get(dataset.get('type', ''))
    except Exception:  # noqa: BLE001 (an unknown type: no meta from it)
        cls = None
    meta.update(getattr(cls, 'METAINFO', None) or {})
    meta.update(dataset.get('metainfo') or {})
    return {k.lower(): v for k, v in meta.items()
            if k.lower() in ('classes', 'palette')} or None


def _palette_for(classes, palette):
    """``palette`` with exactly one colour per class (mmseg's visualizer
    asserts it); missing colours are drawn with a fixed seed."""
    palette = [list(c) for c in (palette or [])][:len(classes)]
    rng = np.random.RandomState(42)
    while len(palette) < len(classes):
        palette.append(rng.randint(0, 256, 3).tolist())
    return palette


def _build_inferencer(task, cfg, device, palette):
    if task == 'detection':
        from mmdet.apis import DetInferencer
        inferencer = DetInferencer(model=cfg, weights=None, device=device,
                                   palette=palette, show_progress=False)
    elif task == 'segmentation':
        from mmseg.apis import MMSegInferencer
        inferencer = MMSegInferencer(model=cfg, weights=None, device=device)
        inferencer.show_progress = False
    else:
        from mmpretrain.apis import ImageClassificationInferencer
        inferencer = ImageClassificationInferencer(
            model=cfg, pretrained=False, device=device)
    return inferencer


class ImagePredictor:
    """The framework inferencer of a config's task, with optional checked
    checkpoint loading, that turns one image into a picture and its top
    predictions.

    Args:
        config (str | Config): an mmhybrid (or any mmdet/mmseg/mmpretrain)
            config.
        checkpoint (str, optional): weights to load with the checked loader;
            ``None`` keeps the random initialisation.
        device (str, optional): ``'cpu'``, ``'cuda:0'``...; default: CUDA if
            available.
        allow_partial_load (bool): load what fits of a checkpoint that does
            not fit the model (default: refuse it).
        pred_score_thr (float): detection: boxes below it are neither drawn
            nor listed.
        opacity (float): segmentation: opacity of the class map.
        topk (int): classification: classes listed and drawn.
        palette (str): detection: mmdet's ``palette`` ('none': config, then
            checkpoint).
        deploy (bool): predict with the model's deploy form
            (:func:`~mmhybrid.utils.switch_to_deploy`, after the checkpoint
            is loaded).
        bf16 (bool): CPU only: predict under bf16 autocast with float32
            islands outputs (:func:`~mmhybrid.utils.enable_bf16`); refused
            with ``ValueError`` on another device.
        compile (str, optional): ``torch.compile`` the backbone and neck
            in this mode (``'default'``, ``'reduce-overhead'``:
            :func:`~mmhybrid.deploy.compile_model`); :attr:`form` names any
            part that fell back to eager, and why.
        compile_backend (str): ``torch.compile``'s backend (default
            ``'inductor'``).
        max_size (int, optional): the longest side (px) at which an image
            is predicted and drawn; a larger image is resized down to it
            and the result says so (``note``). Default:
            :func:`default_max_size` (memory: the inferencers keep
            full-size results).
        view_size (int): the picture of a smaller image is drawn enlarged
            by a whole factor (nearest neighbour; boxes, masks and class
            map with it) until its longest side is at least this many px,
            so that labels do not cover small objects; 0 (default): drawn
            at the size predicted on. The prediction is made on the image
            as it is.

    Example:
        >>> predictor = ImagePredictor('configs/demo/fpn_shvit_s1_toy.py')
        >>> out = predictor('demo.jpg')
        >>> save_png(out['picture'], 'demo.png'); out['top']
        [('background', 0.91, 'of the pixels'), ...]
    """

    def __init__(self, config, checkpoint=None, device=None,
                 allow_partial_load=False, pred_score_thr=0.3, opacity=0.5,
                 topk=5, palette='none', deploy=False, bf16=False,
                 max_size=None, view_size=0, compile=None,
                 compile_backend='inductor'):
        from mmengine.device import get_device

        from mmengine.config import Config

        from mmhybrid.models.utils import load_model_checkpoint
        cfg = config if isinstance(config, Config) else load_config(config)
        self.task = config_task(cfg)
        if checkpoint is not None and not osp.isfile(checkpoint):
            raise FileNotFoundError(f'Checkpoint not found: {checkpoint!r}')
        self.device = device or get_device()
        if bf16 and not str(self.device).startswith('cpu'):
            raise ValueError(
                f'bf16 is a CPU inference mode; the device is '
                f'{self.device!r}. Pass device=\'cpu\' (--device cpu), or '
                'predict without bf16.')
        self.deploy = bool(deploy)
        self.bf16 = bool(bf16)
        self.pred_score_thr = pred_score_thr
        self.opacity = opacity
        self.topk = topk
        self.palette = palette
        if view_size is None or int(view_size) < 0:
            raise ValueError('view_size must be 0 (as predicted) or a '
                             f'number of pixels, got {view_size!r}')
        #: the least longest side (px) of a picture (0: as predicted)
        self.view_size = int(view_size)
        #: the framework's scope: the inferencer is built and called in it,
        #: and the caller's default scope is restored afterwards
        self.scope = cfg.default_scope
        with warnings.catch_warnings(), self._in_scope(), \
                explain_errors(cfg):
            warnings.filterwarnings('ignore', message=_NO_WEIGHTS_WARNINGS)
            self.inferencer = _build_inferencer(self.task, cfg, self.device,
                                                palette)
        self.checkpoint = checkpoint
        from mmhybrid.deploy import part_num_classes
        num_classes = part_num_classes(self.inferencer.model)
        if max_size is not None and int(max_size) < 1:
            raise ValueError(f'max_size must be a positive number of pixels, '
                             f'got {max_size!r}')
        #: the longest side at which an image is predicted
        self.max_size = int(max_size) if max_size is not None else \
            default_max_size(self.task, num_classes)
        metas = []
        if checkpoint is not None:
            ckpt = load_model_checkpoint(
                self.inferencer.model, checkpoint,
                allow_partial=allow_partial_load, hint=_CHECKPOINT_HINT,
                require_finite=True)
            metas.append(('checkpoint', checkpoint_dataset_meta(ckpt)))
        metas.append(('config', _config_dataset_meta(cfg, self.task)))
        if self.deploy or self.bf16:
            from mmhybrid.deploy import enable_bf16, switch_to_deploy
            if self.deploy:  # first: it may replace modules
                switch_to_deploy(self.inferencer.model)
            if self.bf16:
                enable_bf16(self.inferencer.model)
        #: what :func:`~mmhybrid.deploy.compile_model` compiled, or None
        self.compiled = None
        if compile:
            from mmhybrid.deploy import compile_model
            self.compiled = compile_model(self.inferencer.model, mode=compile,
                                          backend=compile_backend)
        #: where the class names come from
        self.meta_source = 'inferencer\'s default'
        for source, meta in metas:
            meta = {k.lower(): v for k, v in (meta or {}).items()}
            classes = meta.get('classes')
            if classes is None:
                continue
            if num_classes is not None and len(classes) != num_classes:
                warnings.warn(
                    f'The {source} names {len(classes)} classes but the '
                    f'model predicts {num_classes}: its class names are '
                    'not used.')
                continue
            self._set_dataset_meta(meta)
            self.meta_source = source
            break

    def _in_scope(self):
        from mmengine.registry import DefaultScope
        return DefaultScope.overwrite_default_scope(self.scope)

    @property
    def form(self):
        """Which form of the model predicts, e.g. ``'deploy + bf16 autocast
        (CPU)'``."""
        from mmhybrid.engine import inference_form
        return inference_form(
            self.deploy, self.bf16,
            self.compiled.form() if self.compiled else None)

    @property
    def classes(self):
        if self.task == 'classification':
            return self.inferencer.classes
        return (self.inferencer.model.dataset_meta or {}).get('classes')

    def _set_dataset_meta(self, meta):
        """What each inferencer's ``_load_weights_to_model`` does with a
        checkpoint's dataset meta."""
        model = self.inferencer.model
        if self.task == 'detection':
            # mmdet: lower-case keys; palette: argument -> config -> ckpt
            new = {k.lower(): v for k, v in meta.items()}
            current = (getattr(model, 'dataset_meta', None) or {}).get(
                'palette')
            if self.palette != 'none':
                new['palette'] = self.palette
            elif current is not None and current != 'random':
                new['palette'] = current
            new.setdefault('palette', 'random')
            model.dataset_meta = new
            if self.inferencer.visualizer is not None:
                self.inferencer.visualizer.dataset_meta = new
        elif self.task == 'segmentation':
            classes = meta.get('classes')
            if classes is None:
                return
            model.dataset_meta = {
                'classes': classes,
                'palette': _palette_for(classes, meta.get('palette'))
            }
        else:
            model._dataset_meta = dict(meta)
            if meta.get('classes') is not None:
                self.inferencer.classes = meta['classes']

    def _name(self, label):
        classes = self.classes
        label = int(label)
        if classes is not None and 0 <= label < len(classes):
            return str(classes[label])
        return str(label)

    def __call__(self, image):
        """Predict on one image file. Returns a dict with ``picture`` (RGB
        uint8 array: detections drawn, class map blended, or the image with
        its top-k panel) and ``top``: ``(name, score, detail)`` tuples, best
        first (boxes above ``pred_score_thr``; classes by pixel fraction;
        top-k classes)."""
        from mmhybrid.utils import bf16_autocast
        rgb = read_image(image)  # names a broken file before the model runs
        if self.task == 'segmentation' and rgb.shape[:2] == (1, 1):
            # mmseg squeezes the class map of one pixel to no height/width
            raise ImageReadError(
                f'Cannot segment image {image!r}: it is a single pixel (1x1 '
                'px); segmentation needs an image of at least 2 pixels.')
        rgb, note = self._fit(image, rgb)
        # the inferencers read a file, or take an array in OpenCV's BGR
        inputs = image if note is None else np.ascontiguousarray(
            rgb[..., ::-1])
        with bf16_autocast(enabled=self.bf16), self._in_scope():
            if self.task == 'detection':
                result = self._detect(inputs, rgb)
            elif self.task == 'segmentation':
                result = self._segment(inputs, rgb)
            else:
                result = self._classify(inputs, rgb)
        result.update(image=image, note=note)
        return result

    def _fit(self, path, rgb):
        """``rgb`` resized down so that its longest side is at most
        :attr:`max_size`, and a sentence saying so (None: unchanged)."""
        import mmcv
        h, w = rgb.shape[:2]
        if max(h, w) <= self.max_size:
            return rgb, None
        scale = self.max_size / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        why = ''
        from mmhybrid.deploy import part_num_classes
        num_classes = part_num_classes(self.inferencer.model)
        if self.task == 'segmentation' and num_classes:
            need = (_SEG_BYTES_PER_PIXEL + 4 * num_classes) * h * w
            why = (f'; segmenting it at full size would take about '
                   f'{need / 2**30:.1f} GiB more memory')
        note = (f'{path} is {w}x{h} px, larger than the limit of '
                f'{self.max_size} px a side{why}: predicted on it resized '
                f'to {size[0]}x{size[1]} px (the picture has that size). '
                '--max-size sets the limit.')
        return mmcv.imresize(rgb, size, interpolation='area'), note

    def _colors(self, labels):
        """One RGB colour per class: the model's palette as mmdet's
        visualizer resolves it (``'random'``: its fixed seed)."""
        from mmdet.visualization.palette import get_palette
        meta = getattr(self.inferencer.model, 'dataset_meta', None) or {}
        classes = meta.get('classes') or ()
        count = max([len(classes)] + [int(x) + 1 for x in labels])
        return get_palette(meta.get('palette', 'random'), max(count, 1))

    def _detect(self, image, rgb):
        from mmhybrid.visualization import draw_detections
        out = self.inferencer(
            image, return_vis=False, no_save_vis=True, no_save_pred=True,
            return_datasamples=True, pred_score_thr=self.pred_score_thr)
        inst = out['predictions'][0].pred_instances.cpu().numpy()
        keep = np.flatnonzero(inst.scores >= self.pred_score_thr)
        keep = keep[np.argsort(-inst.scores[keep], kind='stable')]
        top = []
        for i in keep:
            box = ', '.join(f'{v:.0f}' for v in inst.bboxes[i])
            detail = f'box [{box}]'
            if 'masks' in inst:
                detail += f', mask {int(inst.masks[i].sum())} px'
            top.append((self._name(inst.labels[i]), float(inst.scores[i]),
                        detail))
        picture = draw_detections(
            rgb, inst.bboxes[keep], inst.labels[keep], inst.scores[keep],
            masks=inst.masks[keep] if 'masks' in inst else None,
            names=self.classes, colors=self._colors(inst.labels[keep]),
            view_size=self.view_size)
        return dict(image=image, picture=picture, top=top,
                    num_instances=len(inst.scores))

    def _segment(self, image, rgb):
        from mmhybrid.visualization import upscale, view_scale
        out = self.inferencer(image, return_vis=True, opacity=self.opacity)
        sem_seg = np.asarray(out['predictions'])
        labels, counts = np.unique(sem_seg, return_counts=True)
        order = np.argsort(-counts, kind='stable')
        top = [(self._name(labels[i]), float(counts[i] / sem_seg.size),
                'of the pixels') for i in order]
        picture = out['visualization']
        factor = view_scale(*rgb.shape[:2], self.view_size)
        if factor > 1:  # drawn again, enlarged, with labels of a legible size
            import torch
            from mmengine.structures import PixelData
            from mmseg.structures import SegDataSample
            sample = SegDataSample()
            sample.pred_sem_seg = PixelData(data=torch.from_numpy(
                upscale(sem_seg, factor)[None].astype(np.int64)))
            visualizer = self.inferencer.visualizer
            visualizer.add_datasample(
                'prediction', np.ascontiguousarray(upscale(rgb, factor)),
                sample, draw_gt=False, draw_pred=True, show=False,
                with_labels=True)
            picture = visualizer.get_image()
        return dict(image=image, picture=picture, top=top,
                    sem_seg=sem_seg)

    def _classify(self, image, rgb):
        import mmpretrain.utils.progress as progress
        shown, progress.disable_progress_bar = (
            progress.disable_progress_bar, True)
        try:
            result = self.inferencer(image)[0]
        finally:
            progress.disable_progress_bar = shown
        scores = np.asarray(result['pred_scores'], dtype=np.float64)
        k = min(self.topk, scores.size)
        best = np.argsort(-scores, kind='stable')[:k]
        names = [self._name(i) for i in best]
        top = [(n, float(scores[i]), f'class {int(i)}')
               for n, i in zip(names, best)]
        from mmhybrid.visualization import upscale, view_scale
        view = upscale(rgb, view_scale(*rgb.shape[:2], self.view_size))
        picture = draw_topk(view, names, scores[best], title=f'top-{k}')
        return dict(image=image, picture=picture, top=top, scores=scores)
