"""Configs and Runners: the one config loader (mmdet/mmseg-style overrides),
telling a config's task and test resolution, and what ``tools/train.py`` and
``tools/test.py`` share (common flags, building the Runner, summarising its
metrics, ending a user's mistake with a message)."""
import contextlib
import os
import os.path as osp
import sys

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmhybrid.models  # noqa: F401  (registers mmhybrid's components)
from mmhybrid.engine.safe_load import TRUST_ENV, trust_checkpoints

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


def _datasets(cfg):
    """``dataset`` dicts of a dataloader config, wrappers unwrapped."""
    todo, out = [cfg.get('dataset')], []
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
        for ds in _datasets(loader):
            root = ds.get('data_root')
            if root and '://' not in str(root) and not osp.isdir(root):
                raise FileNotFoundError(
                    f'Data root not found: {root!r} ({name}.dataset'
                    f'.data_root, absolute path {osp.abspath(root)!r}). '
                    'Put the dataset there, or point the config at it with '
                    f'--cfg-options {name}.dataset.data_root=PATH/ (the toy '
                    'sets: python tools/misc/make_toy_data.py --out '
                    'data/toy).')


def build_runner(cfg):
    """Build the config's Runner (or its ``runner_type``)."""
    os.environ.setdefault('LOCAL_RANK', '0')
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def run_cli(main, prog):
    """Run a tool's ``main``. A user's mistake (a missing file, an image
    that cannot be decoded, a checkpoint refused as unsafe or not fitting
    the model) ends with its message on stderr and exit code 1 instead of a
    traceback."""
    try:
        main()
    except Exception as e:  # noqa: BLE001
        from mmhybrid.engine.safe_load import (NotACheckpointError,
                                               UntrustedCheckpointError)
        from mmhybrid.models.utils.checkpoint import CheckpointMismatchError

        from .checks import AnnotationError, MetricError
        from .files import OutputPathError
        from .inference import ImageReadError
        if not isinstance(e, (FileNotFoundError, ImageReadError,
                              UntrustedCheckpointError, NotACheckpointError,
                              CheckpointMismatchError, MetricError,
                              AnnotationError, OutputPathError)):
            raise
        print(f'{prog}: error: {e}', file=sys.stderr)
        return 1
    return 0


def summarize_metrics(metrics):
    """``{'coco/bbox_mAP': .4, ...}`` -> lines ``bbox_mAP: 0.4000``, the
    headline metrics first."""
    lines = []
    for key, value in metrics.items():
        short = key.split('/')[-1]
        if short in _SUMMARY_KEYS:
            lines.append(f'{_SUMMARY_KEYS[short]}: {float(value):.4f}')
    return lines
