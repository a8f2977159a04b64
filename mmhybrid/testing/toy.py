"""Deterministic synthetic toy datasets in the real on-disk formats.

Scenes are solid shapes (rotated rectangles, ellipses, triangles) in
class-specific colours on smooth, noisy backgrounds. Each shape is drawn from
its exact polygon, so the polygon *is* the instance mask. Three layouts:

* COCO instances: ``coco/{train2017,val2017}/*.jpg`` and
  ``coco/annotations/instances_{train2017,val2017}.json`` (polygon
  ``segmentation``, ``bbox`` xywh, ``area``, ``iscrowd`` 0, ``categories``).
* ADE20K: ``ade/ADEChallengeData2016/images/{training,validation}/*.jpg`` and
  ``.../annotations/{training,validation}/*.png`` (label PNG, 0 = background,
  ``k`` = ``TOY_CLASSES[k - 1]``).
* ImageNet class folders: ``imagenet/{train,val}/<class_name>/*.jpg`` (one
  shape per image) plus ``imagenet/meta/{train,val}.txt``.

Every image has its own ``numpy.random.RandomState`` seeded by
``(seed, split, index)``, so the output bytes depend only on the parameters.
Each generator writes a stamp file with its parameters and does nothing when
called again with the same ones (pass ``force=True`` to rebuild).
"""
import json
import math
import os
import os.path as osp
import shutil

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    'TOY_CLASSES', 'TOY_PALETTE', 'TOY_SEG_CLASSES', 'TOY_SEG_PALETTE',
    'make_toy_coco', 'make_toy_ade', 'make_toy_imagenet', 'make_toy_data',
    'make_toy_folder'
]

#: Foreground classes (COCO category ids 1..3, label PNG values 1..3), in
#: alphabetical order so that folder-sorted class indices (mmpretrain's
#: ``CustomDataset``) agree with the ``meta/*.txt`` labels.
TOY_CLASSES = ('ellipse', 'rectangle', 'triangle')
#: Base colour of each class; every instance jitters it a little.
TOY_PALETTE = ((60, 190, 70), (220, 60, 50), (60, 90, 220))
#: Segmentation classes: label value ``k`` is ``TOY_SEG_CLASSES[k]``.
TOY_SEG_CLASSES = ('background', ) + TOY_CLASSES
TOY_SEG_PALETTE = ((0, 0, 0), ) + TOY_PALETTE

_VERSION = 2
_STAMP = '.toy_stamp.json'
_SPLIT_IDS = {'train': 0, 'val': 1}
_JPEG_QUALITY = 92


# ---------------------------------------------------------------- drawing
def _rng(seed, kind, split, index):
    kind_id = {'coco': 1, 'ade': 2, 'imagenet': 3}[kind]
    return np.random.RandomState([seed, kind_id, _SPLIT_IDS[split], index])


def _background(rng, size):
    """Smooth low-frequency colour field plus pixel noise, low saturation."""
    coarse = rng.uniform(70, 180, size=(4, 4, 1)) + rng.uniform(
        -20, 20, size=(4, 4, 3))
    coarse = Image.fromarray(np.clip(coarse, 0, 255).astype(np.uint8))
    field = np.asarray(
        coarse.resize((size, size), Image.BILINEAR), dtype=np.float32)
    field = field + rng.normal(0, 12, size=(size, size, 3))
    return field


def _shape_polygon(rng, shape, cx, cy, radius):
    """Polygon (N, 2) of one ``shape`` (a :data:`TOY_CLASSES` name) around
    (cx, cy) fitting inside a circle of ``radius``."""
    theta = rng.uniform(0, 2 * math.pi)
    if shape == 'rectangle':  # aspect 0.5..1, any rotation
        aspect = rng.uniform(0.5, 1.0)
        half_diag_angle = math.atan(aspect)
        angles = [half_diag_angle, math.pi - half_diag_angle,
                  math.pi + half_diag_angle, 2 * math.pi - half_diag_angle]
        pts = [(radius * math.cos(a + theta), radius * math.sin(a + theta))
               for a in angles]
    elif shape == 'ellipse':  # 32 vertices
        ry = radius * rng.uniform(0.55, 1.0)
        ts = np.linspace(0, 2 * math.pi, 32, endpoint=False)
        x, y = radius * np.cos(ts), ry * np.sin(ts)
        c, s = math.cos(theta), math.sin(theta)
        pts = list(zip(x * c - y * s, x * s + y * c))
    elif shape == 'triangle':  # vertices roughly 120 degrees apart
        angles = [0, 2 * math.pi / 3 + rng.uniform(-0.35, 0.35),
                  4 * math.pi / 3 + rng.uniform(-0.35, 0.35)]
        pts = [(radius * math.cos(a + theta), radius * math.sin(a + theta))
               for a in angles]
    else:
        raise ValueError(f'unknown shape {shape!r}')
    pts = np.asarray(pts, dtype=np.float64) + (cx, cy)
    return np.round(pts, 2)


def _polygon_area(pts):
    x, y = pts[:, 0], pts[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _make_scene(rng, size, max_objects, min_radius, max_radius, overlap=False,
                classes=None):
    """Draw one scene.

    Returns the RGB image (uint8 HxWx3), the label map (uint8 HxW, 0 =
    background, k = class k-1) and the objects as ``(class_idx, polygon)``
    in drawing order (later ones on top; without ``overlap`` they are
    disjoint up to their bounding circles).
    """
    img = Image.fromarray(
        np.clip(_background(rng, size), 0, 255).astype(np.uint8))
    label = Image.new('L', (size, size), 0)
    draw, ldraw = ImageDraw.Draw(img), ImageDraw.Draw(label)
    num = rng.randint(1, max_objects + 1)
    placed, objects = [], []
    for _ in range(num):
        cls_idx = (int(rng.randint(len(TOY_CLASSES)))
                   if classes is None else int(rng.choice(classes)))
        for _attempt in range(30):
            r = rng.uniform(min_radius, max_radius)
            cx = rng.uniform(r + 1, size - r - 1)
            cy = rng.uniform(r + 1, size - r - 1)
            if overlap or all((cx - px)**2 + (cy - py)**2 > (r + pr + 2)**2
                              for px, py, pr in placed):
                break
        else:
            continue
        placed.append((cx, cy, r))
        pts = _shape_polygon(rng, TOY_CLASSES[cls_idx], cx, cy, r)
        base = np.asarray(TOY_PALETTE[cls_idx], dtype=np.float64)
        colour = tuple(
            int(v) for v in np.clip(base + rng.uniform(-25, 25, 3), 0, 255))
        poly = [tuple(p) for p in pts]
        draw.polygon(poly, fill=colour)
        ldraw.polygon(poly, fill=cls_idx + 1)
        objects.append((cls_idx, pts))
    arr = np.asarray(img, dtype=np.float32)
    arr = arr + rng.normal(0, 6, size=arr.shape)  # sensor-like noise
    return (np.clip(arr, 0, 255).astype(np.uint8), np.asarray(label), objects)


# ----------------------------------------------------------- bookkeeping
def _up_to_date(out_dir, params, required):
    stamp = osp.join(out_dir, _STAMP)
    if not osp.isfile(stamp):
        return False
    try:
        with open(stamp) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return False
    return old == params and all(
        osp.exists(osp.join(out_dir, p)) for p in required)


def _reset(out_dir, generated):
    """Remove what an earlier run generated (and only that)."""
    for name in generated + [_STAMP]:
        path = osp.join(out_dir, name)
        if osp.isdir(path):
            shutil.rmtree(path)
        elif osp.exists(path):
            os.remove(path)


def _write_stamp(out_dir, params):
    with open(osp.join(out_dir, _STAMP), 'w') as f:
        json.dump(params, f, indent=1, sort_keys=True)
        f.write('\n')


def _save_jpg(arr, path):
    Image.fromarray(arr).save(path, quality=_JPEG_QUALITY)


# -------------------------------------------------------------- datasets
def make_toy_coco(out_dir,
                  num_train=160,
                  num_val=48,
                  img_size=128,
                  max_objects=4,
                  min_radius=12,
                  max_radius=30,
                  seed=0,
                  force=False):
    """Write a COCO-format instance segmentation toy set under ``out_dir``.

    Layout: ``{train2017,val2017}/%06d.jpg`` and
    ``annotations/instances_{train2017,val2017}.json``; categories
    :data:`TOY_CLASSES` with ids 1..3. Objects do not overlap, so each
    polygon is exactly the visible mask.

    Returns:
        dict: ``data_root``, ``train_ann``, ``val_ann``, ``train_img``,
        ``val_img`` (paths relative to ``data_root`` for the last four) and
        ``generated`` (False when the stamp matched and nothing was
        written).
    """
    params = dict(kind='coco', version=_VERSION, num_train=num_train,
                  num_val=num_val, img_size=img_size, max_objects=max_objects,
                  min_radius=min_radius, max_radius=max_radius, seed=seed)
    info = dict(data_root=out_dir,
                train_ann='annotations/instances_train2017.json',
                val_ann='annotations/instances_val2017.json',
                train_img='train2017/', val_img='val2017/')
    required = [info['train_ann'], info['val_ann']]
    if not force and _up_to_date(out_dir, params, required):
        return dict(info, generated=False)
    _reset(out_dir, ['train2017', 'val2017', 'annotations'])
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    categories = [dict(id=i + 1, name=n, supercategory='shape')
                  for i, n in enumerate(TOY_CLASSES)]
    for split, num in (('train', num_train), ('val', num_val)):
        img_dir = osp.join(out_dir, f'{split}2017')
        os.makedirs(img_dir, exist_ok=True)
        images, annotations = [], []
        for idx in range(num):
            rng = _rng(seed, 'coco', split, idx)
            img, _, objects = _make_scene(rng, img_size, max_objects,
                                          min_radius, max_radius)
            image_id = idx + 1
            file_name = f'{image_id:06d}.jpg'
            _save_jpg(img, osp.join(img_dir, file_name))
            images.append(dict(id=image_id, file_name=file_name,
                               width=img_size, height=img_size))
            for cls_idx, pts in objects:
                x0, y0 = pts.min(0)
                x1, y1 = pts.max(0)
                annotations.append(
                    dict(id=len(annotations) + 1, image_id=image_id,
                         category_id=cls_idx + 1,
                         segmentation=[[float(v) for v in pts.reshape(-1)]],
                         area=round(_polygon_area(pts), 2),
                         bbox=[round(float(v), 2)
                               for v in (x0, y0, x1 - x0, y1 - y0)],
                         iscrowd=0))
        coco = dict(
            info=dict(description='mmhybrid toy shapes (synthetic)',
                      version=str(_VERSION)),
            licenses=[], images=images, annotations=annotations,
            categories=categories)
        with open(osp.join(out_dir, info[f'{split}_ann']), 'w') as f:
            json.dump(coco, f, sort_keys=True)
    _write_stamp(out_dir, params)
    return dict(info, generated=True)


def make_toy_ade(out_dir,
                 num_train=160,
                 num_val=48,
                 img_size=128,
                 max_objects=5,
                 min_radius=10,
                 max_radius=32,
                 seed=0,
                 force=False):
    """Write an ADE20K-layout semantic segmentation toy set.

    ``out_dir`` gets ``ADEChallengeData2016/images/{training,validation}/
    ADE_{train,val}_%08d.jpg`` and the matching label PNGs under
    ``annotations/``; label ``k`` means :data:`TOY_SEG_CLASSES` ``[k]``
    (0 = background is a real class here: use ``reduce_zero_label=False``).
    Shapes may overlap; the label map shows what is on top.

    Returns:
        dict: ``data_root`` (the ``ADEChallengeData2016`` folder),
        ``train_img``, ``train_ann``, ``val_img``, ``val_ann`` (relative to
        it) and ``generated``.
    """
    params = dict(kind='ade', version=_VERSION, num_train=num_train,
                  num_val=num_val, img_size=img_size, max_objects=max_objects,
                  min_radius=min_radius, max_radius=max_radius, seed=seed)
    root = osp.join(out_dir, 'ADEChallengeData2016')
    info = dict(data_root=root, train_img='images/training',
                train_ann='annotations/training',
                val_img='images/validation', val_ann='annotations/validation')
    required = [osp.join('ADEChallengeData2016', info[k])
                for k in ('train_img', 'train_ann', 'val_img', 'val_ann')]
    if not force and _up_to_date(out_dir, params, required):
        return dict(info, generated=False)
    _reset(out_dir, ['ADEChallengeData2016'])
    for split, num, sub, prefix in (('train', num_train, 'training',
                                     'ADE_train'),
                                    ('val', num_val, 'validation', 'ADE_val')):
        img_dir = osp.join(root, 'images', sub)
        ann_dir = osp.join(root, 'annotations', sub)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for idx in range(num):
            rng = _rng(seed, 'ade', split, idx)
            img, label, _ = _make_scene(rng, img_size, max_objects,
                                        min_radius, max_radius, overlap=True)
            name = f'{prefix}_{idx + 1:08d}'
            _save_jpg(img, osp.join(img_dir, name + '.jpg'))
            Image.fromarray(label).save(
                osp.join(ann_dir, name + '.png'))
    _write_stamp(out_dir, params)
    return dict(info, generated=True)


def make_toy_imagenet(out_dir,
                      num_train_per_class=32,
                      num_val_per_class=8,
                      img_size=64,
                      seed=0,
                      force=False):
    """Write an ImageNet-style classification toy set: one shape per image
    in ``{train,val}/<class_name>/<class_name>_%05d.jpg`` (class names
    :data:`TOY_CLASSES`), plus ``meta/{train,val}.txt`` lines
    ``<class_name>/<file> <label>`` as mmpretrain's ``ImageNet`` reads.

    Returns:
        dict: ``data_root``, ``classes``, ``train_ann``, ``val_ann``
        (relative) and ``generated``.
    """
    params = dict(kind='imagenet', version=_VERSION,
                  num_train_per_class=num_train_per_class,
                  num_val_per_class=num_val_per_class, img_size=img_size,
                  seed=seed)
    info = dict(data_root=out_dir, classes=list(TOY_CLASSES),
                train_ann='meta/train.txt', val_ann='meta/val.txt')
    required = ['meta/train.txt', 'meta/val.txt'] + [
        osp.join(s, c) for s in ('train', 'val') for c in TOY_CLASSES
    ]
    if not force and _up_to_date(out_dir, params, required):
        return dict(info, generated=False)
    _reset(out_dir, ['train', 'val', 'meta'])
    os.makedirs(osp.join(out_dir, 'meta'), exist_ok=True)
    r_min, r_max = img_size * 0.2, img_size * 0.42
    for split, per_class in (('train', num_train_per_class),
                             ('val', num_val_per_class)):
        lines = []
        for cls_idx, name in enumerate(TOY_CLASSES):
            cls_dir = osp.join(out_dir, split, name)
            os.makedirs(cls_dir, exist_ok=True)
            for i in range(per_class):
                rng = _rng(seed, 'imagenet', split, cls_idx * 100000 + i)
                img, _, _ = _make_scene(rng, img_size, 1, r_min, r_max,
                                        classes=[cls_idx])
                file_name = f'{name}_{i + 1:05d}.jpg'
                _save_jpg(img, osp.join(cls_dir, file_name))
                lines.append(f'{name}/{file_name} {cls_idx}\n')
        with open(osp.join(out_dir, 'meta', f'{split}.txt'), 'w') as f:
            f.writelines(lines)
    _write_stamp(out_dir, params)
    return dict(info, generated=True)


# the toy sets make_toy_data writes, each in the folder of its name
TOY_KINDS = ('coco', 'ade', 'imagenet', 'hamvit')


def make_toy_data(out_dir='data/toy', seed=0, force=False, coco=None, ade=None,
                  imagenet=None, hamvit=None, kinds=TOY_KINDS):
    """Generate every toy set under ``out_dir`` (``coco/``, ``ade/``,
    ``imagenet/``, ``hamvit/`` — the HAM-ViT image-folder layout).
    ``coco``/``ade``/``imagenet``/``hamvit`` are optional dicts of keyword
    arguments for the matching generator.

    Returns:
        dict: kind -> the generator's return value.
    """
    makers = dict(coco=make_toy_coco, ade=make_toy_ade,
                  imagenet=make_toy_imagenet, hamvit=make_toy_folder)
    overrides = dict(coco=coco or {}, ade=ade or {}, imagenet=imagenet or {},
                     hamvit=hamvit or {})
    results = {}
    for kind in kinds:
        if kind not in makers:
            raise ValueError(f'unknown toy dataset {kind!r}; choose from '
                             f'{sorted(makers)}')
        kwargs = dict(seed=seed, force=force)
        kwargs.update(overrides[kind])
        results[kind] = makers[kind](osp.join(out_dir, kind), **kwargs)
    return results


_FOLDER_EXTENSIONS = ('.jpg', '.jpg', '.png', '.jpg', '.jpeg', '.jpg', '.bmp',
                      '.jpg')


def make_toy_folder(out_dir,
                    num_train_per_class=40,
                    num_test_per_class=12,
                    img_size=112,
                    seed=0,
                    force=False):
    """Write an image-folder classification toy set in the HAM-ViT project's
    layout: ``{train,test}/<class_name>/<class_name>_%05d.<ext>`` (class
    names :data:`TOY_CLASSES`, one shape per image), no annotation files, as
    mmpretrain's ``CustomDataset`` scans them. Extensions cycle through
    .jpg, .png, .jpeg and .bmp (mostly .jpg), the formats the project reads.

    Returns:
        dict: ``data_root``, ``classes``, ``train_prefix``, ``test_prefix``
        and ``generated``.
    """
    params = dict(kind='folder', version=_VERSION,
                  num_train_per_class=num_train_per_class,
                  num_test_per_class=num_test_per_class, img_size=img_size,
                  seed=seed)
    info = dict(data_root=out_dir, classes=list(TOY_CLASSES),
                train_prefix='train', test_prefix='test')
    required = [osp.join(s, c) for s in ('train', 'test') for c in TOY_CLASSES]
    if not force and _up_to_date(out_dir, params, required):
        return dict(info, generated=False)
    _reset(out_dir, ['train', 'test'])
    os.makedirs(out_dir, exist_ok=True)
    r_min, r_max = img_size * 0.2, img_size * 0.42
    for split_id, (split, per_class) in enumerate(
            (('train', num_train_per_class), ('test', num_test_per_class))):
        for cls_idx, name in enumerate(TOY_CLASSES):
            cls_dir = osp.join(out_dir, split, name)
            os.makedirs(cls_dir, exist_ok=True)
            for i in range(per_class):
                rng = np.random.RandomState(
                    [seed, 4, split_id, cls_idx * 100000 + i])
                img, _, _ = _make_scene(rng, img_size, 1, r_min, r_max,
                                        classes=[cls_idx])
                ext = _FOLDER_EXTENSIONS[i % len(_FOLDER_EXTENSIONS)]
                path = osp.join(cls_dir, f'{name}_{i + 1:05d}{ext}')
                if ext in ('.jpg', '.jpeg'):
                    _save_jpg(img, path)
                else:
                    Image.fromarray(img).save(path)
    _write_stamp(out_dir, params)
    return dict(info, generated=True)


__all__ += ['make_toy_folder']
