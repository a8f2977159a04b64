"""Turning what a framework raises deep inside a build or a dataloader into
a sentence that names the user's config key or image file
(:func:`explain_errors`). It runs only after such a failure."""
import contextlib
import difflib
import inspect
import os.path as osp
import re

from .errors import ConfigError, ImageReadError
from .images import UNSUPPORTED_MODES, read_image

__all__ = ['explain_config_error', 'explain_data_error', 'explain_errors']


def _config_dicts(obj, path=''):
    """``(dotted path, dict)`` of every dict with a ``type`` inside a
    config (lists too: ``...pipeline.0``), outer ones first."""
    if isinstance(obj, dict):
        if 'type' in obj:
            yield path, obj
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        return
    for key, value in items:
        if isinstance(value, (dict, list, tuple)):
            yield from _config_dicts(value, f'{path}.{key}' if path
                                     else str(key))


def _type_name(value):
    return value.__name__ if inspect.isclass(value) else \
        str(value).split('.')[-1]


def _lookup_type(value, scope):
    """The class a config's ``type`` names, looked up in every mmengine
    registry in ``scope``; None when none has it."""
    import mmengine.registry as registries
    from mmengine.registry import DefaultScope, Registry
    if inspect.isclass(value):
        return value
    for root in vars(registries).values():
        if not isinstance(root, Registry):
            continue
        registry = root.children.get(scope, root)
        with DefaultScope.overwrite_default_scope(scope), \
                contextlib.suppress(Exception):
            found = registry.get(value)
            if found is not None:
                return found
    return None


def _arguments(cls):
    """The keyword arguments a class takes: those of ``__init__`` along its
    MRO (a subclass passing ``**kwargs`` on takes its bases' too)."""
    names = set()
    for klass in inspect.getmro(cls):
        init = vars(klass).get('__init__')
        if init is None or klass is object:
            continue
        with contextlib.suppress(TypeError, ValueError):
            names.update(
                n for n, p in inspect.signature(init).parameters.items()
                if n != 'self'
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
    return names


def _did_you_mean(word, choices, cutoff=0.6):
    near = difflib.get_close_matches(str(word), sorted(map(str, choices)),
                                     n=1, cutoff=cutoff)
    return f'; did you mean {near[0]!r}?' if near else '.'


_UNEXPECTED_ARG = re.compile(
    r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'")
_NOT_REGISTERED = re.compile(r"(\S+) is not in the (\w+)::(\w+) registry")


def explain_config_error(cfg, exc):
    """A :class:`ConfigError` naming the config key behind ``exc``, raised
    while building what ``cfg`` describes (an unknown ``type``, an argument
    the class does not take, a backbone argument it refuses), or None when
    ``exc`` is not such a mistake or no key of ``cfg`` matches it."""
    from mmhybrid.models.backbones.base import BackboneArgumentError
    scope = cfg.get('default_scope') or 'mmengine'
    dicts = list(_config_dicts(dict(cfg.items())))
    message = str(exc.args[0]) if exc.args else str(exc)
    if isinstance(exc, TypeError):
        match = _UNEXPECTED_ARG.search(message)
        if match is None:
            return None
        cls_name, arg = match.groups()
        hits = [(p, d) for p, d in dicts if arg in d]
        hits = [(p, d) for p, d in hits
                if _type_name(d['type']) == cls_name] or hits
        if len(hits) != 1:
            return None
        path, d = hits[0]
        cls = _lookup_type(d['type'], scope)
        valid = _arguments(cls) if cls is not None else ()
        return ConfigError(
            f'{path}.{arg}: {_type_name(d["type"])} takes no argument '
            f'{arg!r}{_did_you_mean(arg, valid)}')
    if isinstance(exc, KeyError):
        match = _NOT_REGISTERED.search(message)
        if match is None:
            return None
        name, reg_scope, reg_name = match.groups()
        paths = [p for p, d in dicts if d['type'] == name]
        if not paths:
            return None
        import mmengine.registry as registries
        from mmengine.registry import Registry
        known = set()
        for root in vars(registries).values():
            if isinstance(root, Registry) and root.name == reg_name:
                for registry in (root, root.children.get(reg_scope)):
                    if registry is not None:
                        known.update(registry.module_dict)
        return ConfigError(
            f'{paths[0]}.type: {name!r} is not a registered {reg_name} '
            f'type in scope {reg_scope!r}{_did_you_mean(name, known)} (A '
            'type of your own must be imported first: custom_imports.)')
    if isinstance(exc, BackboneArgumentError) and exc.argument is not None:
        paths = [p for p, d in dicts if exc.argument in d and (
            exc.value is None or d[exc.argument] == exc.value)]
        if len(paths) != 1:
            return None
        return ConfigError(f'{paths[0]}.{exc.argument}: {exc}')
    return None


# what an image decoder raises, inside a dataloader, for a file it cannot
# read: mmcv's LoadImageFromFile names the file when OpenCV returns nothing;
# OpenCV (an empty buffer) and Pillow raise without naming it
# (a worker's error quotes its traceback: the message is a line of its own)
_NAMED_IMAGE_ERROR = re.compile(
    r'^(?:\w+: )?failed to load image: (.+?)\s*$', re.M)
_UNNAMED_IMAGE_ERROR = re.compile(
    r'imdecode|buf\.empty\(\)|_src\.empty\(\)|cannot identify image file|'
    r'image file is truncated')


def _image_paths(dataset):
    """The ``img_path`` of every sample of a built dataset (wrappers
    unwrapped)."""
    todo = [dataset]
    while todo:
        ds = todo.pop()
        if hasattr(ds, 'datasets'):
            todo.extend(ds.datasets)
        elif hasattr(ds, 'dataset') and not hasattr(ds, 'get_data_info'):
            todo.append(ds.dataset)
        else:
            for i in range(len(ds)):
                path = ds.get_data_info(i).get('img_path')
                if path:
                    yield path


def explain_data_error(cfg, loaders, exc):
    """An ``ImageReadError`` naming the image file behind ``exc``, raised
    while loading the data of ``cfg``'s ``loaders`` (names such as
    ``'train_dataloader'``), or None when ``exc`` is not a decoding error.
    Runs only after such a failure: the datasets are built again and the
    size and header of their files read (no image is decoded)."""
    message = str(exc)
    match = _NAMED_IMAGE_ERROR.search(message)
    if match:
        path = match.group(1)
        try:
            read_image(path)
        except (ImageReadError, FileNotFoundError) as e:
            return ImageReadError(f'{e} (a sample of the dataset)')
        return ImageReadError(f'Cannot decode image {path!r}, a sample of '
                              'the dataset.')
    if not _UNNAMED_IMAGE_ERROR.search(message):
        return None
    from mmengine.registry import DATASETS, DefaultScope
    bad = []
    for name in loaders:
        dataset_cfg = (cfg.get(name) or {}).get('dataset')
        if not dataset_cfg:
            continue
        try:
            with DefaultScope.overwrite_default_scope(
                    cfg.get('default_scope')):
                dataset = DATASETS.build(dataset_cfg)
            paths = list(_image_paths(dataset))
        except Exception:  # noqa: BLE001 (no explanation from this one)
            continue
        for path in paths:
            problem = _header_problem(path)
            if problem:
                bad.append(f'{path!r} ({name}): {problem}')
    if not bad:
        return None
    more = f' (and {len(bad) - 5} more)' if len(bad) > 5 else ''
    return ImageReadError(
        'Cannot read image ' + '; '.join(bad[:5]) + more +
        '. Restore or convert the file, or remove it from the dataset.')


def _header_problem(path):
    """What is wrong with an image file, as far as its size and header
    tell (Pillow reads no pixels), or None."""
    from PIL import Image

    if not osp.isfile(path):
        return None  # the loader names a missing file itself
    if osp.getsize(path) == 0:
        return 'the file is empty (0 bytes)'
    try:
        with Image.open(path) as im:
            mode = im.mode
    except Exception as e:  # noqa: BLE001 (PIL raises many kinds)
        return f'not an image file ({type(e).__name__}: {e})'
    if mode in UNSUPPORTED_MODES:
        return (f'its pixels are {UNSUPPORTED_MODES[mode]} (Pillow mode '
                f'{mode!r}), which OpenCV cannot load; supported: 8- or '
                '16-bit grey, RGB or RGBA images')
    return None


@contextlib.contextmanager
def explain_errors(cfg, loaders=()):
    """Raise a config mistake met inside the block again as a
    :class:`ConfigError` naming its key (:func:`explain_config_error`), and
    an image of the ``loaders``' datasets that cannot be decoded as an
    ``ImageReadError`` naming the file (:func:`explain_data_error`)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 (re-raised unless explained)
        explained = explain_config_error(cfg, exc)
        if explained is None and loaders:
            explained = explain_data_error(cfg, loaders, exc)
        if explained is None:
            raise
        raise explained from exc
