"""Evaluation protocols a config offers besides its default one."""
import copy

from .errors import ConfigError


def apply_eval_protocol(cfg, name):
    """Evaluate with the protocol ``name`` of ``cfg.eval_protocols``.

    A config that offers other ways of computing its metric (e.g. the one an
    upstream number was measured with) lists them as
    ``eval_protocols = dict(<name>=dict(pipeline=[...]))``; this sets that
    pipeline as the test (and val) dataset's pipeline. ``'default'`` (or
    ``None``) keeps the config as it is. An unknown name is a
    :class:`ConfigError` naming the offered ones.

    Returns:
        the config (changed in place).
    """
    if name in (None, 'default'):
        return cfg
    offered = cfg.get('eval_protocols') or {}
    if name not in offered:
        raise ConfigError(
            f'evaluation protocol {name!r} is not offered by this config '
            f'(eval_protocols: {sorted(offered) or "none"}; "default" is '
            f'its own test pipeline)')
    protocol = offered[name]
    if 'pipeline' not in protocol:
        raise ConfigError(f'eval_protocols.{name} has no pipeline')
    for key in ('test_dataloader', 'val_dataloader'):
        loader = cfg.get(key)
        if loader is None:
            continue
        dataset = loader.dataset
        while 'pipeline' not in dataset and 'dataset' in dataset:
            dataset = dataset.dataset  # a wrapper (e.g. ConcatDataset)
        dataset.pipeline = copy.deepcopy(protocol['pipeline'])
    return cfg
