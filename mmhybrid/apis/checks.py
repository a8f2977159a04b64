"""Checks that turn silently wrong numbers into clear refusals:
:func:`check_metrics` (an evaluation that produced no usable headline
metric) and :func:`check_coco_annotations` (a COCO annotation file whose
categories do not fit its annotations or the config's classes, or that has
no images)."""
import json
import math
import numbers
import os.path as osp

from mmengine.evaluator import BaseMetric
from mmengine.registry import METRICS

from .errors import AnnotationError, MetricError
from .runner import dataloader_datasets


#: the metric :class:`NonFiniteOutputs` reports (and how many samples)
NONFINITE_KEY, SAMPLES_KEY = 'outputs/nonfinite', 'outputs/samples'


def _has_non_finite(obj):
    import torch
    if isinstance(obj, torch.Tensor):
        return obj.is_floating_point() and not bool(
            torch.isfinite(obj).all())
    if isinstance(obj, dict):
        return any(_has_non_finite(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_has_non_finite(v) for v in obj)
    return False


class NonFiniteOutputs(BaseMetric):
    """Counts the samples whose model outputs (logits, scores, boxes) hold
    a NaN or Inf, as ``nonfinite_outputs``. Such outputs still turn into
    plausible-looking predictions (NaN segmentation logits become class 0
    everywhere, NaN detection scores become no detection), so the metrics
    computed from them are not a result; :func:`check_metrics` refuses
    them. ``tools/test.py`` adds it to every test evaluator."""

    default_prefix = 'outputs'

    def process(self, data_batch, data_samples):
        for sample in data_samples:
            outputs = {k: v for k, v in sample.items()
                       if not str(k).startswith('gt_')} \
                if isinstance(sample, dict) else sample
            self.results.append(int(_has_non_finite(outputs)))

    def compute_metrics(self, results):
        return {'nonfinite': sum(results), 'samples': len(results)}


if 'NonFiniteOutputs' not in METRICS.module_dict:
    METRICS.register_module(module=NonFiniteOutputs)


# task -> metric names (the part after the last '/') that are headlines
HEADLINE_METRICS = {
    'detection': ('bbox_mAP', 'segm_mAP', 'mAP'),
    'segmentation': ('mIoU', ),
    'classification': ('top1', ),
}


def _kept(kept):
    paths = [p for p in kept if p]
    if not paths:
        return ''
    return ' What was written is kept: ' + ', '.join(paths) + '.'


def check_metrics(metrics, task, kept=()):
    """Refuse metrics that would be reported as a result but mean nothing.

    ``metrics`` is what ``Runner.test()``/``val()`` returned, ``task`` as
    :func:`~mmhybrid.apis.config_task` says. The headline metrics are those
    named in :data:`HEADLINE_METRICS` for the task (``coco/bbox_mAP``,
    ``mIoU``, ``accuracy/top1`` ...); an evaluator that reports none of
    them has all its numbers checked instead. Raises :class:`MetricError`
    when there is no headline number at all (e.g. mmdet's COCO metric found
    no predictions and printed nothing), when one is NaN or infinite (the
    model produced non-finite outputs, or no class had ground truth), or
    when a COCO AP is -1 (pycocotools' "no ground truth for any evaluated
    class"), or when :class:`NonFiniteOutputs` counted outputs with NaN or
    Inf. ``kept``: paths (logs, predictions) named in the message.
    Returns the headline names and values."""
    metrics = dict(metrics or {})
    count = metrics.pop(NONFINITE_KEY, None)
    total = metrics.pop(SAMPLES_KEY, None)
    if count:
        raise MetricError(
            f'The model\'s outputs held NaN or Inf for {count} of {total} '
            'images (e.g. a checkpoint with NaN weights, or an overflow in '
            'low precision). Predictions made from them look plausible '
            '(NaN logits become class 0, NaN scores no detection), so the '
            f'metrics mean nothing.{_kept(kept)}')
    numbers_ = {k: float(v) for k, v in metrics.items()
                if isinstance(v, numbers.Number) and not isinstance(v, bool)}
    names = HEADLINE_METRICS.get(task, ())
    headline = {k: v for k, v in numbers_.items()
                if k.split('/')[-1] in names}
    if not headline:
        headline = numbers_
    if not headline:
        raise MetricError(
            f'The evaluation returned no metric (expected '
            f'{" or ".join(names) or "a number"}; got '
            f'{sorted(metrics) or "nothing"}): there is no result. This '
            'happens when the model made no prediction at all (e.g. NaN '
            'weights, or a score threshold that no box passes) or the '
            'evaluator found nothing to compare; see the log for the '
            f'evaluator\'s own message.{_kept(kept)}')
    bad = {k: v for k, v in headline.items() if not math.isfinite(v)}
    if bad:
        raise MetricError(
            f'The evaluation returned non-finite metrics: '
            f'{", ".join(f"{k}={v}" for k, v in sorted(bad.items()))}. The '
            'model produced NaN/Inf outputs, or no class of the evaluated '
            f'set had ground truth; the numbers mean nothing.{_kept(kept)}')
    coco = {k: v for k, v in headline.items()
            if v == -1.0 and k.split('/')[-1].endswith('mAP')}
    if coco:
        raise MetricError(
            f'The evaluation returned {", ".join(sorted(coco))} = -1: '
            'pycocotools found no ground truth for the evaluated classes '
            '(the annotation file\'s categories do not match its annotations '
            'or the config\'s classes), so there is no result.'
            f'{_kept(kept)}')
    return headline


def _type_name(t):
    return t if isinstance(t, str) else getattr(t, '__name__', str(t))


def _default_classes(cfg, ds_type):
    """The classes a dataset type declares (its ``METAINFO``), or None."""
    try:
        import importlib
        scope = cfg.get('default_scope') or 'mmdet'
        registry = importlib.import_module(f'{scope}.registry').DATASETS
        cls = ds_type if isinstance(ds_type, type) else registry.get(ds_type)
        return tuple(cls.METAINFO['classes'])
    except Exception:  # noqa: BLE001 (unknown type: no class check)
        return None


def _coco_files(cfg, loaders):
    """``(config key, path, classes or None)`` of every COCO annotation
    file the given dataloaders and their evaluators read."""
    evaluators = {'train_dataloader': None,
                  'val_dataloader': 'val_evaluator',
                  'test_dataloader': 'test_evaluator'}
    out = []
    for name in loaders:
        loader = cfg.get(name)
        if not isinstance(loader, dict):
            continue
        for ds in dataloader_datasets(loader):
            ds_type = ds.get('type')
            ann = ds.get('ann_file')
            if 'Coco' not in _type_name(ds_type) or not ann or \
                    not str(ann).endswith('.json') or '://' in str(ann):
                continue
            root = ds.get('data_root') or ''
            path = ann if osp.isabs(ann) else osp.join(root, ann)
            classes = (ds.get('metainfo') or {}).get('classes')
            if classes is None:
                classes = _default_classes(cfg, ds_type)
            out.append((f'{name}.dataset.ann_file', path, classes))
        ev_key = evaluators.get(name)
        evs = cfg.get(ev_key) if ev_key else None
        for ev in ([evs] if isinstance(evs, dict) else list(evs or [])):
            ann = ev.get('ann_file') if isinstance(ev, dict) else None
            if ann and 'Coco' in _type_name(ev.get('type', '')) \
                    and '://' not in str(ann):
                out.append((f'{ev_key}.ann_file', ann, None))
    return out


def _listing(values, limit=8, sort=True):
    values = sorted(values, key=str) if sort else list(values)
    more = f' and {len(values) - limit} more' if len(values) > limit else ''
    return ', '.join(map(str, values[:limit])) + more


#: annotation files larger than this are not parsed whole before training
#: (COCO's train2017 file is 448 MB): only their ``categories`` are read
FULL_READ_BYTES = 64 * 2**20


def _check_classes(path, key, classes, cats):
    """Refuse config ``classes`` that the file's ``categories`` (a list of
    dicts) do not all name."""
    names = {c.get('name') for c in cats if isinstance(c, dict)}
    absent = [c for c in classes if c not in names]
    if not absent:
        return
    found = len(classes) - len(absent)
    what = ('mmdet keeps only the annotations of the config\'s classes, '
            'so no image would have any (training stops with "need at '
            'least one array to concatenate")' if not found else
            'mmdet would drop them silently and shift the labels of the '
            'others')
    missing = (f'none of the config\'s {len(classes)} classes '
               f'({_listing(classes, sort=False)})' if not found else
               f'no category named {_listing(absent, sort=False)}, one of '
               f'the config\'s {len(classes)} classes '
               f'({_listing(classes, sort=False)})')
    raise AnnotationError(
        f'{path!r} ({key}) has {missing} among its {len(names)} '
        f'categories ({_listing(names) or "none"}); '
        f'{what}. The toy sets of tools/misc/make_toy_data.py have their '
        'own configs, configs/demo/*_toy.py. For another data set, set the '
        'dataset\'s metainfo=dict(classes=(...)) to the names in the file '
        'and the heads\' num_classes to their count.')


def _tail_categories(path, window=4 * 2**20):
    """The ``categories`` list of a large COCO file, found in its last or
    first ``window`` bytes (where COCO writers put it) without parsing the
    rest; None when not found there."""
    size = osp.getsize(path)
    decoder = json.JSONDecoder()
    with open(path, 'rb') as f:
        chunks = []
        f.seek(max(0, size - window))
        chunks.append(f.read())
        f.seek(0)
        chunks.append(f.read(window))
    for chunk in chunks:
        text = chunk.decode('utf-8', errors='replace')
        start = text.rfind('"categories"')
        while start >= 0:
            bracket = text.find('[', start)
            colon = text.find(':', start + len('"categories"'))
            if 0 <= colon < bracket and not text[colon + 1:bracket].strip():
                try:
                    cats, _ = decoder.raw_decode(text, bracket)
                except ValueError:
                    cats = None
                if isinstance(cats, list):
                    return cats
            start = text.rfind('"categories"', 0, start)
    return None


def check_coco_classes(path, classes, key='ann_file'):
    """Refuse (:class:`AnnotationError`) a COCO annotation file whose
    category names do not include all the config's ``classes``: mmdet
    keeps only the annotations of those classes, and a training set with
    none left fails deep inside mmengine with ``need at least one array to
    concatenate`` (e.g. the 3-class toy set under an 80-class COCO config).
    Files over :data:`FULL_READ_BYTES` have only their ``categories`` read
    (skipped when not found at either end of the file)."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'Annotation file not found: {path!r} ({key}; absolute path '
            f'{osp.abspath(path)!r})')
    if classes is None:
        return
    if osp.getsize(path) > FULL_READ_BYTES:
        cats = _tail_categories(path)
        if cats is None:
            return
    else:
        cats = _load_coco_json(path, key).get('categories') or []
    _check_classes(path, key, classes, cats)


def _load_coco_json(path, key):
    """The top-level object of a COCO annotation file; an
    :class:`AnnotationError` naming ``path`` and ``key`` if it is not
    one."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise AnnotationError(
            f'{path!r} ({key}) is not a JSON file: {e}') from None
    if not isinstance(data, dict):
        raise AnnotationError(f'{path!r} ({key}) is not a COCO annotation '
                              'file (no top-level object)')
    return data


def check_coco_file(path, classes=None, key='ann_file'):
    """Refuse (:class:`AnnotationError`, naming ``path`` and ``key``) a COCO
    annotation file that would give meaningless metrics: no images,
    annotations whose ``category_id`` is not in ``categories`` (pycocotools
    then reports AP -1 or ignores them), or ``classes`` (the config's) not
    all found among the category names (mmdet would drop them silently and
    shift the labels of the others)."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'Annotation file not found: {path!r} ({key}; absolute path '
            f'{osp.abspath(path)!r})')
    data = _load_coco_json(path, key)
    if not data.get('images'):
        raise AnnotationError(
            f'{path!r} ({key}) has no images (its "images" list is missing '
            'or empty): there is nothing to evaluate. Point the config at '
            'the annotation file of the split you mean.')
    cats = [c for c in data.get('categories') or [] if isinstance(c, dict)]
    cat_ids = {c.get('id') for c in cats}
    used = {a.get('category_id') for a in data.get('annotations') or []
            if isinstance(a, dict)}
    unknown = used - cat_ids
    if unknown:
        raise AnnotationError(
            f'{path!r} ({key}) has annotations with category ids that its '
            f'"categories" list does not have: {_listing(unknown)} '
            f'(categories: {_listing(cat_ids) or "none"}). Their objects '
            'would count as nothing and AP would read -1 or be wrong; add '
            'the categories or fix the ids.')
    if classes is not None:
        _check_classes(path, key, classes, cats)
    return data


def check_coco_annotations(cfg, *loaders):
    """Run :func:`check_coco_file` once per COCO annotation file that the
    given dataloaders (``'val_dataloader'``, ``'test_dataloader'``) and
    their evaluators read, with the config's classes. The training set
    (``'train_dataloader'``) gets :func:`check_coco_classes` only (its
    classes; a large file is not parsed whole). Configs without COCO data
    are left alone."""
    files = {}
    for key, path, classes in _coco_files(cfg, loaders):
        entry = files.setdefault(osp.realpath(path), [key, path, None])
        if entry[2] is None:
            entry[2] = classes
    for key, path, classes in files.values():
        if key.startswith('train_dataloader.'):
            check_coco_classes(path, classes, key)
        else:
            check_coco_file(path, classes, key)
