"""Configs and Runners: the one config loader (mmdet/mmseg-style overrides),
telling a config's task and test resolution, and what ``tools/train.py`` and
``tools/test.py`` share (common flags, building the Runner, summarising its
metrics, ending a user's mistake with a message)."""
import contextlib
import difflib
import inspect
import os
import os.path as osp

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmhybrid.models  # noqa: F401  (registers mmhybrid's components)
from mmhybrid.engine.safe_load import TRUST_ENV, trust_checkpoints

from .errors import ConfigError
from .explain import explain_errors

# default_scope of a config -> (task, framework package)
TASKS = {
    'mmdet': ('detection', 'mmdet'),
    'mmseg': ('segmentation', 'mmseg'),
    'mmpretrain': ('classification', 'mmpretrain'),
}

# metric key suffix -> the name printed in summaries
_SUMMARY_KEYS = {
    'bbox_mAP': 'bbox_mAP', 'bbox_mAP_50': 'bbox_mAP_50',
    'bbox_mAP_75': 'bbox_mAP_75', 'segm_mAP': 'segm_mAP',
    'segm_mAP_50': 'segm_mAP_50', 'segm_mAP_75': 'segm_mAP_75',
    'mIoU': 'mIoU', 'mAcc': 'mAcc', 'aAcc': 'aAcc',
    'top1': 'top1', 'top5': 'top5',
}


# top-level keys that mmengine's Runner (and the config machinery around
# it) reads besides the arguments of ``Runner.__init__``: ``Config`` itself,
# ``Runner.cfg.get`` calls, the frameworks' ``tools/test.py --tta``,
# ``FlexibleRunner`` and mmhybrid's own ``load_config``
_OTHER_RUNNER_KEYS = (
    '_base_', 'custom_imports', 'runner_type', 'model_wrapper_cfg',
    'sync_bn', 'find_unused_parameters', 'compile',
    'activation_checkpointing', 'efficient_conv_bn_eval', 'strategy',
    'tta_model', 'tta_pipeline', 'allow_partial_load')


def runner_keys(cfg=None):
    """The top-level config keys a Runner reads: the arguments of
    ``Runner.__init__`` (those ``Runner.from_cfg`` passes, or of the
    config's ``runner_type`` when it names a registered Runner) and the
    few keys it reads from ``cfg`` directly."""
    classes = [Runner]
    runner_type = cfg.get('runner_type') if cfg is not None else None
    if isinstance(runner_type, str):
        with contextlib.suppress(Exception):
            classes.append(RUNNERS.get(runner_type))
    elif inspect.isclass(runner_type):
        classes.append(runner_type)
    keys = set(_OTHER_RUNNER_KEYS)
    for cls in classes:
        if cls is None:
            continue
        for klass in inspect.getmro(cls):
            init = vars(klass).get('__init__')
            if init is None:
                continue
            keys.update(
                name for name, p in inspect.signature(init).parameters.items()
                if name not in ('self', 'cfg')
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
    return keys


def _edit_distance(a, b):
    """Optimal string alignment distance (a swap of two neighbouring
    letters counts once)."""
    prev2, prev = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if (i > 1 and j > 1 and a[i - 1] == b[j - 2]
                    and a[i - 2] == b[j - 1]):
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def misspelt_key(key, known):
    """The key of ``known`` that ``key`` is a typo of, or None: similar as
    difflib sees it (ratio >= 0.8) and one edit away (a letter added,
    dropped, changed, or two swapped), two for keys of 10 letters or more;
    not a plural of it (a list of its own: ``models``). The variables of
    the configs that mmdet, mmseg and mmpretrain ship (``conv_cfg``,
    ``train_pipeline``, ``train_dataset``...) are further from every Runner
    key than that."""
    if key in known:
        return None
    edits = 1 if len(key) < 10 else 2
    for near in difflib.get_close_matches(key, sorted(known), n=3,
                                          cutoff=0.8):
        if key != near + 's' and _edit_distance(key, near) <= edits:
            return near
    return None


def check_top_level_keys(cfg):
    """Refuse a config whose top-level key is a misspelling of a key the
    Runner reads (``trian_dataloader``, ``optim_wraper``, ``load_form``):
    mmengine would ignore it silently, training without that setting."""
    known = runner_keys(cfg)
    where = f' in {cfg.filename}' if cfg.filename else ''
    for key in cfg.keys():
        near = misspelt_key(key, known)
        if near is not None:
            raise ConfigError(
                f'Config key {key!r}{where} is not read by the Runner: did '
                f'you mean {near!r}? As written it would be ignored. (If it '
                'is a variable of your own, give it a name less like '
                f'{near!r}.)')


def add_common_args(parser):
    """The flags ``tools/train.py`` and ``tools/test.py`` share with
    mmdet/mmseg: ``--cfg-options``, ``--launcher``, ``--local_rank``."""
    from mmengine.config import DictAction
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value pairs')
    parser.add_argument('--launcher',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument(
        '--allow-partial-load', action='store_true',
        help='load a checkpoint (load_from / the tested checkpoint) that '
        'lacks keys or has tensors of other shapes: what fits is loaded, '
        'the rest keeps its initialisation (default: refuse such a file)')
    add_trust_arg(parser)
    return parser


def add_trust_arg(parser):
    """``--trust-checkpoint``: the explicit opt-in to fully unpickle the
    checkpoint files this command is given (see :func:`apply_trust_arg`)."""
    parser.add_argument(
        '--trust-checkpoint', action='store_true',
        help='fully unpickle the checkpoint files given to this command '
        '(weights_only=False). Only for a legacy file you trust: '
        'unpickling can run code from it. Files loaded after the command '
        f'returns are not trusted ({TRUST_ENV}=1 trusts every file of the '
        'process).')
    return parser


def parse_common_args(parser):
    """Parse the command line of ``tools/train.py``/``tools/test.py`` and
    set ``LOCAL_RANK`` as mmengine's launchers expect."""
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def apply_trust_arg(args, *paths):
    """A context manager that honours ``--trust-checkpoint``: inside it,
    the checkpoint files or URLs ``paths`` (``None`` skipped) are fully
    unpickled, and only while the tool's work runs
    (:func:`mmhybrid.engine.safe_load.trust_checkpoints`). Without the flag
    it does nothing."""
    if not getattr(args, 'trust_checkpoint', False):
        return contextlib.nullcontext()
    return trust_checkpoints(paths)


def config_task(cfg):
    """Return the task ('detection', 'segmentation', 'classification') that
    the config's ``default_scope`` names."""
    scope = cfg.get('default_scope')
    if scope not in TASKS:
        raise ValueError(
            f'Cannot tell the task of this config: default_scope is '
            f'{scope!r}, expected one of {sorted(TASKS)} (inherit a '
            f'mmdet::/mmseg::/mmpretrain:: default_runtime or set it).')
    return TASKS[scope][0]


def load_config(config, cfg_options=None, work_dir=None, launcher='none',
                allow_partial_load=False):
    """The one config loader: read ``config`` (a path; a ``Config`` is used
    as is, updated in place), apply the standard command-line overrides and
    check that its ``default_scope`` names a task (:func:`config_task`)."""
    if isinstance(config, Config):
        cfg = config
    else:
        if not osp.isfile(config):
            raise FileNotFoundError(f'Config file not found: {config!r}')
        cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    if allow_partial_load:
        cfg.allow_partial_load = True
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        name = osp.basename(cfg.filename) if cfg.filename else 'config'
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(name)[0])
    config_task(cfg)
    check_top_level_keys(cfg)
    return cfg


def test_resolution(cfg):
    """The square input size of a config's test pipeline (its
    ``crop_size``/``scale``; for a pair, the larger side)."""
    size = None
    for t in cfg.test_dataloader.dataset.pipeline:
        for key in ('crop_size', 'scale'):
            if key in t:
                v = t[key]
                size = v if isinstance(v, int) else max(v)
    if size is None:
        raise ValueError('no crop_size/scale in the test pipeline')
    return size


test_resolution.__test__ = False  # a helper, not a test (for pytest)


def dataloader_datasets(loader):
    """``dataset`` dicts of a dataloader config, wrappers unwrapped."""
    todo, out = [loader.get('dataset')], []
    while todo:
        ds = todo.pop()
        if isinstance(ds, dict):
            out.append(ds)
            todo.append(ds.get('dataset'))
            todo.extend(ds.get('datasets') or [])
    return out


def check_data_roots(cfg, *loaders):
    """Refuse early, naming the config key, when a local ``data_root`` of
    the given dataloaders (``'train_dataloader'``, ...) does not exist."""
    for name in loaders:
        loader = cfg.get(name)
        if not isinstance(loader, dict):
            continue
        for ds in dataloader_datasets(loader):
            root = ds.get('data_root')
            if root and '://' not in str(root) and not osp.isdir(root):
                raise FileNotFoundError(
                    f'Data root not found: {root!r} ({name}.dataset'
                    f'.data_root, absolute path {osp.abspath(root)!r}). '
                    'Put the dataset there, or point the config at it with '
                    f'--cfg-options {name}.dataset.data_root=PATH/. The toy '
                    'sets (python tools/misc/make_toy_data.py --out '
                    'data/toy) have 3 classes and their own configs, '
                    'configs/demo/*_toy.py; a COCO, ADE20K or ImageNet '
                    'config needs its real data set.')


def build_runner(cfg):
    """Build the config's Runner (or its ``runner_type``); a mistake in the
    config is raised as a :class:`ConfigError` naming its key."""
    os.environ.setdefault('LOCAL_RANK', '0')
    with explain_errors(cfg):
        if 'runner_type' in cfg:
            return RUNNERS.build(cfg)
        return Runner.from_cfg(cfg)


def summarize_metrics(metrics):
    """``{'coco/bbox_mAP': .4, ...}`` -> lines ``bbox_mAP: 0.4000``, the
    headline metrics first."""
    lines = []
    for key, value in metrics.items():
        short = key.split('/')[-1]
        if short in _SUMMARY_KEYS:
            lines.append(f'{_SUMMARY_KEYS[short]}: {float(value):.4f}')
    return lines
