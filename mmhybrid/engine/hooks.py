"""mmengine hooks of mmhybrid (registered in mmengine's ``HOOKS``, so every
framework's Runner builds them by name)."""
import glob
import os
import os.path as osp
import re
import tempfile

from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook, Hook
from mmengine.registry import HOOKS

from mmhybrid.registry import register_in

__all__ = ['InferenceFormHook', 'inference_form', 'SafeCheckpointHook']


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _new_file_mode(like):
    """The permission bits a plain ``open(path, 'w')`` would give: those of
    the file being replaced, else 0o666 less the umask."""
    if osp.exists(like):
        return os.stat(like).st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def replace_atomically(write, path):
    """Write ``path`` so that a crash at any moment leaves either the old
    file or the new one: ``write(tmp_path)`` fills a new temporary file in
    the same folder (an unpredictable name, created exclusively, so a
    planted symlink is never followed), which is synced, given the mode a
    plain write would give, and renamed over ``path``. The temporary file is
    removed when anything fails (a full disk, an interrupt)."""
    folder = osp.dirname(osp.abspath(path))
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(path)}.{os.getpid()}.', suffix='.tmp',
        dir=folder)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, 'rb') as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        if osp.lexists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(folder)


class SafeCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` whose saves survive a run killed at any
    moment (kill -9, OOM, node loss) and never lose the last good
    checkpoint:

    * each checkpoint (and ``last_checkpoint``) is written under a temporary
      name in the same folder, synced and renamed into place
      (:func:`replace_atomically`);
    * ``max_keep_ckpts`` retires an old checkpoint only after the new one
      is on disk;
    * temporary files left by a killed run (their process is gone) are
      removed when training starts.

    Checkpoints on non-local storage (``backend_args``) are saved as
    mmengine does. mmhybrid's configs use it through their runtime base::

        default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook',
                                             interval=1))
    """

    def before_train(self, runner):
        super().before_train(runner)
        if is_main_process() and isinstance(self.file_backend,
                                            LocalBackend):
            self._remove_stale_temporaries(runner)

    def _remove_stale_temporaries(self, runner):
        for folder in {self.out_dir, runner.work_dir}:
            for path in glob.glob(osp.join(folder, '.*.tmp')):
                m = re.fullmatch(r'\..+\.(\d+)\.[^.]+\.tmp',
                                 osp.basename(path))
                if m and not _pid_alive(int(m.group(1))):
                    os.remove(path)
                    runner.logger.info('Removed the temporary file of an '
                                       f'interrupted save: {path}')

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not isinstance(self.file_backend, LocalBackend):
            return super()._save_checkpoint_with_step(runner, step, meta)
        retired = []
        if self.max_keep_ckpts > 0 and not (
                self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                retired.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        if is_main_process():
            os.makedirs(self.out_dir, exist_ok=True)

        def save(tmp):
            runner.save_checkpoint(
                self.out_dir, osp.basename(tmp), self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler, meta=meta,
                by_epoch=self.by_epoch, backend_args=self.backend_args,
                **self.args)

        if not is_main_process():
            return  # Runner.save_checkpoint writes on the main process only
        replace_atomically(save, self.last_ckpt)

        def point(tmp):
            with open(tmp, 'w') as f:
                f.write(self.last_ckpt)

        replace_atomically(point, osp.join(runner.work_dir,
                                           'last_checkpoint'))
        for old in retired:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(old))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)


def inference_form(deploy=False, bf16=False, compile=None):
    """The words that say which form of a model ran, e.g.
    ``'deploy + bf16 autocast (CPU)'``; ``'as trained (fp32)'`` for
    none. ``compile``: a ``torch.compile`` mode (``'default'``,
    ``'reduce-overhead'``...) or the words of
    :meth:`mmhybrid.deploy.Compiled.form` (which parts, any fallback)."""
    parts = (['deploy'] if deploy else []) + \
        (['bf16 autocast (CPU)'] if bf16 else [])
    if compile:
        parts.append(compile if compile.startswith('torch.compile') else
                     'torch.compile' + ('' if compile == 'default' else
                                        f' ({compile})'))
    return ' + '.join(parts) if parts else 'as trained (fp32)'


class InferenceFormHook(Hook):
    """Test the model in its inference form: before the test loop runs (the
    checkpoint is loaded by then), switch ``runner.model`` to its deploy
    form (:func:`~mmhybrid.deploy.switch_to_deploy`) and/or prepare it for CPU
    bf16 (:func:`~mmhybrid.deploy.enable_bf16`; the test loop's ``fp16`` is
    set, so mmengine runs ``test_step`` under autocast, which on the CPU is
    bf16). The form is logged before and after the test.

    Used by ``tools/test.py --deploy/--bf16``; in a config::

        custom_hooks = [dict(type='InferenceFormHook', deploy=True,
                             bf16=True)]

    Args:
        deploy (bool): switch to the deploy form (BN folded, fused convs).
        bf16 (bool): CPU bf16 autocast with float32 islands outputs. Refused
            (``ValueError``) when the model is on a GPU: on a GPU mmengine's
            autocast is float16, which this mode was not checked for.
        compile (str, optional): ``torch.compile`` the backbone and neck
            in this mode (``'default'``, ``'reduce-overhead'``...:
            :func:`~mmhybrid.deploy.compile_model`), after the deploy/bf16
            steps; a part where compiling fails runs eagerly, logged with
            the reason and named in :attr:`form`.
        compile_backend (str): ``torch.compile``'s backend (``'inductor'``;
            ``'eager'`` checks the compile path without a C++ compiler).
    """

    priority = 'VERY_HIGH'  # before any hook that runs the model

    def __init__(self, deploy=False, bf16=False, compile=None,
                 compile_backend='inductor'):
        self.deploy = bool(deploy)
        self.bf16 = bool(bf16)
        self.compile = compile or None
        self.compile_backend = compile_backend
        #: what :func:`~mmhybrid.deploy.compile_model` compiled
        self.compiled = None
        #: what :func:`~mmhybrid.deploy.switch_to_deploy` switched
        self.deployed = []
        #: the modules whose outputs are cast back to float32
        self.islands = []

    @property
    def form(self):
        return inference_form(
            self.deploy, self.bf16,
            self.compiled.form() if self.compiled else self.compile)

    def before_test(self, runner):
        from mmhybrid.deploy import (compile_model, enable_bf16,
                                     switch_to_deploy)
        model = runner.model
        model = getattr(model, 'module', model)  # DDP and other wrappers
        if self.bf16:
            devices = {p.device.type for p in model.parameters()} - {'cpu'}
            if devices:
                raise ValueError(
                    f'--bf16 is a CPU inference mode; the model is on '
                    f'{sorted(devices)}. Test on the CPU '
                    '(CUDA_VISIBLE_DEVICES=), or on the GPU without --bf16.')
        if self.deploy:
            self.deployed = switch_to_deploy(model) or []
        if self.bf16:
            self.islands = enable_bf16(model)
            runner.test_loop.fp16 = True
        if self.compile:
            self.compiled = compile_model(model, mode=self.compile,
                                          backend=self.compile_backend)
        runner.logger.info(f'inference form: {self.form}' + (
            f' (float32 outputs of: {", ".join(self.islands)})'
            if self.islands else ''))

    def after_test_epoch(self, runner, metrics=None):
        runner.logger.info(f'these metrics are of the inference form: '
                           f'{self.form}')


register_in(HOOKS, InferenceFormHook)
register_in(HOOKS, SafeCheckpointHook)
