"""mmhybrid's models by name in MMPretrain: ``mmpretrain.list_models`` and
``mmpretrain.get_model`` read ``model-index.yml``.

OpenMMLab indexes its models in ``model-index.yml``, which imports one
metafile per family (``configs/metafiles/<family>.yml``: Collections, and
Models with Name, Config, Parameters/FLOPs, the upstream Results and, where
upstream released them, Weights). Importing mmhybrid does not touch
MMPretrain's ``ModelHub``; :func:`register_model_index` (called by
:func:`mmhybrid.apis.get_model` and :func:`mmhybrid.apis.list_models`, or
once by a user who wants ``mmpretrain.list_models``/``get_model`` to know
mmhybrid's classifiers) registers them through MMPretrain's public
``ModelHub.register_model_index``.

Only the image classifiers go into MMPretrain's hub: ``get_model`` builds
MMPretrain models only, and the detection and segmentation entries are for
``mim`` and the reader. The hub's copies carry no ``Weights``: MMPretrain
would read a URL through torch.hub, which unpickles the file fully and
cannot convert an upstream layout; :func:`mmhybrid.apis.get_model` reads
the index's weights safely and converts them.
"""
import functools
import os.path as osp
import tempfile

CLASSIFICATION = 'Image Classification'
_REGISTERED = False


def model_index_path():
    """``model-index.yml`` of this mmhybrid: at the repository root (a
    source checkout or an editable install; preferred, so that a stale
    ``.mim`` copy left by a wheel build is never read) or inside the package
    (``mmhybrid/.mim/``, where setup.py puts it for a wheel and ``mim``
    looks); None if neither exists."""
    package = osp.dirname(osp.dirname(osp.abspath(__file__)))
    root = osp.dirname(package)
    if osp.isfile(osp.join(root, 'model-index.yml')) and osp.isdir(
            osp.join(root, 'configs', 'metafiles')):
        return osp.join(root, 'model-index.yml')
    path = osp.join(package, '.mim', 'model-index.yml')
    return path if osp.isfile(path) else None


@functools.lru_cache(maxsize=None)
def load_index():
    """mmhybrid's index as modelindex ``Model`` objects (collections
    applied), config paths absolute; () when no index is installed. Read
    once per process (``get_model``/``list_models`` ask on every call)."""
    from modelindex.load_model_index import load
    path = model_index_path()
    if path is None:
        return ()
    index = load(path)
    index.build_models_with_collections()
    root = osp.dirname(path)
    for model in index.models:
        if model.config and not osp.isabs(model.config):
            model.config = osp.join(root, model.config)
    return tuple(index.models)


def is_classifier(model):
    """An index entry MMPretrain's ``get_model`` can build: its results are
    image classification, or (entries without results, HAM-ViT's
    image-folder recipe) its config is an MMPretrain ``ImageClassifier``."""
    if any(r.task == CLASSIFICATION for r in model.results or []):
        return True
    try:
        with open(model.config, encoding='utf-8') as f:
            return "type='ImageClassifier'" in f.read()
    except (OSError, TypeError):
        return False


def _metafiles():
    """The raw metafiles the index imports, as dicts, in index order (the
    model-index.yml folder is the root of their ``Config`` paths); [] when
    no index is installed."""
    import yaml
    path = model_index_path()
    if path is None:
        return []
    with open(path, encoding='utf-8') as f:
        imports = yaml.safe_load(f)['Import']
    metas = []
    for rel in imports:
        with open(osp.join(osp.dirname(path), rel), encoding='utf-8') as f:
            metas.append(yaml.safe_load(f))
    return metas


def _classifier_index(folder):
    """Write the classifier entries of the index, without Weights, as one
    metafile in ``folder``; return its path."""
    import yaml
    root = osp.dirname(model_index_path())
    keep = {m.name for m in load_index() if is_classifier(m)}
    collections, models = [], []
    for meta in _metafiles():
        collections += meta.get('Collections') or []
        for model in meta.get('Models') or []:
            if model['Name'] in keep:
                model = {k: v for k, v in model.items()
                         if k not in ('Weights', 'Recipe')}
                model['Config'] = osp.join(root, model['Config'])
                models.append(model)
    out = osp.join(folder, 'mmhybrid-classifiers.yml')
    with open(out, 'w', encoding='utf-8') as f:
        yaml.safe_dump(dict(Collections=collections, Models=models), f)
    return out


def register_model_index():
    """Register mmhybrid's image classifiers in MMPretrain's ``ModelHub``
    (public ``ModelHub.register_model_index``), once; afterwards
    ``mmpretrain.list_models('shvit*')`` and ``mmpretrain.get_model(name)``
    know them. Returns the registered names."""
    global _REGISTERED
    from mmpretrain.apis.model import ModelHub
    names = sorted(m.name.lower() for m in load_index() if is_classifier(m))
    if _REGISTERED or not names:
        return names
    with tempfile.TemporaryDirectory() as folder:
        ModelHub.register_model_index(_classifier_index(folder))
    _REGISTERED = True
    return names


def index_weights(name):
    """The upstream weights URL the index records for ``name`` (None when
    upstream released none)."""
    for model in load_index():
        if model.name.lower() == name.lower():
            return model.weights
    raise KeyError(f'{name!r} is not in mmhybrid\'s model index')


def recipe_cards():
    """The recipe cards of the index: ``(name, config, results, card)`` for
    every metafile model with a ``Recipe`` entry, in index order. A card
    says which upstream repository@commit a config follows, whether it is
    ``faithful`` or ``differs: ...``, and each recipe item with the
    upstream file:line it comes from (tests/test_recipes.py checks every
    item against the config)."""
    return [(model['Name'], model['Config'], model.get('Results') or [],
             model['Recipe'])
            for meta in _metafiles() for model in meta.get('Models') or []
            if 'Recipe' in model]


def search_index(pattern=None):
    """Every entry of the index (detection and segmentation too) whose name
    matches ``pattern`` (fnmatch when it has ``*?[``, else a substring; case
    ignored; None: all), as dicts with ``name``, ``results`` (``'COCO box
    AP 39.0'``, ...), ``params``, ``flops``, ``config`` (relative to the
    index's folder) and ``weights`` (the upstream URL, or None): what ``mim
    search mmhybrid`` shows, readable without openmim and with any install
    (:func:`model_index_path`). Raises ``FileNotFoundError`` when no index
    is installed."""
    import fnmatch
    path = model_index_path()
    if path is None:
        raise FileNotFoundError(
            'mmhybrid\'s model-index.yml was not found next to the package '
            '(a source checkout or an editable install) nor in '
            'mmhybrid/.mim (a wheel install)')
    root = osp.dirname(path)
    rows = []
    for model in load_index():
        name = model.name
        if pattern:
            wild = any(c in pattern for c in '*?[')
            hit = fnmatch.fnmatch(name.lower(), pattern.lower()) if wild \
                else pattern.lower() in name.lower()
            if not hit:
                continue
        meta = (model.metadata.data if model.metadata else None) or {}
        results = []
        for r in model.results or []:
            for metric, value in (r.metrics or {}).items():
                results.append(f'{r.dataset} {metric} {value}')
        config = model.config
        if config and osp.isabs(config):
            config = osp.relpath(config, root)
        rows.append(dict(name=name, results=results,
                         params=meta.get('Parameters'),
                         flops=meta.get('FLOPs'), config=config,
                         weights=model.weights))
    return rows
