"""mmhybrid's models by name in MMPretrain: ``mmpretrain.list_models`` and
``mmpretrain.get_model`` read ``model-index.yml``.

OpenMMLab indexes its models in ``model-index.yml``, which imports one
metafile per family (``configs/metafiles/<family>.yml``: Collections, and
Models with Name, Config, Parameters/FLOPs, the upstream Results and, where
upstream released them, Weights). MMPretrain's ``ModelHub`` registers its own
index lazily, the first time a name is looked up; :func:`register_with_mmpretrain`
makes that same moment register mmhybrid's index too, once. Only the image
classifiers go into MMPretrain's hub: the detection and segmentation entries
of the index are for ``mim`` and the reader, as ``get_model`` builds
MMPretrain models only.
"""
import os.path as osp

CLASSIFICATION = 'Image Classification'
_REGISTERED = False
_TARGET = 'mmpretrain.apis.model'


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


def register_index(hub):
    """Register mmhybrid's image classifiers in ``hub`` (MMPretrain's
    ``ModelHub``) once; config paths resolve against the index's folder."""
    global _REGISTERED
    if _REGISTERED:
        return
    path = model_index_path()
    if path is None:
        _REGISTERED = True
        return
    before = set(hub._models_dict)
    hub.register_model_index(path, config_prefix=osp.dirname(path))
    for name in set(hub._models_dict) - before:
        results = hub._models_dict[name].results or []
        if not any(r.task == CLASSIFICATION for r in results) and \
                not _is_classifier_config(hub._models_dict[name].config):
            del hub._models_dict[name]
    _REGISTERED = True


def _is_classifier_config(config):
    """Entries without results (HAM-ViT's image-folder recipe) count as
    classifiers when their config file is an MMPretrain ImageClassifier."""
    try:
        with open(config, encoding='utf-8') as f:
            return "type='ImageClassifier'" in f.read()
    except (OSError, TypeError):
        return False


def _patch_model_hub(module):
    hub = module.ModelHub
    original = hub._register_mmpretrain_models.__func__
    if getattr(original, '_mmhybrid', False):
        return

    def _register_mmpretrain_models(cls):
        original(cls)
        register_index(cls)

    _register_mmpretrain_models._mmhybrid = True
    hub._register_mmpretrain_models = classmethod(_register_mmpretrain_models)


def register_with_mmpretrain():
    """Make MMPretrain's ``ModelHub`` register mmhybrid's index along with
    its own (idempotent; nothing is read until a name is looked up)."""
    from .compat import patch_after_import
    patch_after_import(_TARGET, _patch_model_hub)
