"""mmengine hooks of mmhybrid (registered in mmengine's ``HOOKS``, so every
framework's Runner builds them by name)."""
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from mmhybrid.registry import register_in

__all__ = ['InferenceFormHook', 'inference_form']


def inference_form(deploy=False, bf16=False):
    """The words that say which form of a model ran, e.g.
    ``'deploy + bf16 autocast (CPU)'``; ``'as trained (fp32)'`` for
    neither."""
    parts = (['deploy'] if deploy else []) + \
        (['bf16 autocast (CPU)'] if bf16 else [])
    return ' + '.join(parts) if parts else 'as trained (fp32)'


class InferenceFormHook(Hook):
    """Test the model in its inference form: before the test loop runs (the
    checkpoint is loaded by then), switch ``runner.model`` to its deploy
    form (:func:`~mmhybrid.utils.switch_to_deploy`) and/or prepare it for CPU
    bf16 (:func:`~mmhybrid.utils.enable_bf16`; the test loop's ``fp16`` is
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
    """

    priority = 'VERY_HIGH'  # before any hook that runs the model

    def __init__(self, deploy=False, bf16=False):
        self.deploy = bool(deploy)
        self.bf16 = bool(bf16)
        #: what :func:`~mmhybrid.utils.switch_to_deploy` switched
        self.deployed = []
        #: the modules whose outputs are cast back to float32
        self.islands = []

    @property
    def form(self):
        return inference_form(self.deploy, self.bf16)

    def before_test(self, runner):
        from mmhybrid.utils import enable_bf16, switch_to_deploy
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
        runner.logger.info(f'inference form: {self.form}' + (
            f' (float32 outputs of: {", ".join(self.islands)})'
            if self.islands else ''))

    def after_test_epoch(self, runner, metrics=None):
        runner.logger.info(f'these metrics are of the inference form: '
                           f'{self.form}')


register_in(HOOKS, InferenceFormHook)
