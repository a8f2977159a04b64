"""CVNets' multi-scale variable-batch sampling for MMPretrain.

CVNets (apple/ml-cvnets, ``data/sampler/variable_batch_sampler.py``) trains
each batch at one of a few crop sizes and scales the batch so that the
pixels per batch stay about constant: small crops come in large batches,
large crops in small ones. Three registered pieces do the same in an
mmengine Runner, with any sampler (``DefaultSampler`` shards for DDP) and
any number of dataloader workers:

- :class:`VariableBatchSampler` (mmengine ``DATA_SAMPLERS``), the
  dataloader's ``batch_sampler``: it cuts this rank's shard of the
  ``sampler`` into batches of varying size, each of ``(h, w, index)``
  triples, one crop size per batch;
- :class:`VariableBatchDataset` (MMPretrain ``DATASETS``), a wrapper that
  takes those triples and hands ``(h, w)`` to the pipeline as
  ``results['crop_size']`` (a plain index passes through unchanged, so the
  wrapper also works with an ordinary sampler);
- :class:`VariableRandomResizedCrop` (MMPretrain ``TRANSFORMS``),
  MMPretrain's ``RandomResizedCrop`` that resizes to ``results['crop_size']``
  when there is one, else to its ``scale``.

A config::

    train_dataloader = dict(
        batch_size=256,  # per GPU, at the base size
        sampler=dict(type='DefaultSampler', shuffle=True),
        batch_sampler=dict(type='VariableBatchSampler', base_size=256,
                           min_size=160, max_size=320, num_scales=5,
                           size_divisor=32),
        dataset=dict(type='VariableBatchDataset', dataset=dict(
            type='ImageNet', ..., pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='VariableRandomResizedCrop', scale=256), ...])))

and ``custom_imports`` naming ``mmhybrid.datasets``.
"""
import copy
import random
from typing import Iterator, List, Sequence, Tuple, Union

import numpy as np
from mmengine.dist import sync_random_seed
from mmengine.registry import DATA_SAMPLERS
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import DATASETS, TRANSFORMS
from torch.utils.data import Sampler

from mmhybrid.registry import register_in

__all__ = ['image_batch_pairs', 'VariableBatchSampler',
           'VariableBatchDataset', 'VariableRandomResizedCrop']

Size = Union[int, Sequence[int]]


def _make_divisible(v, divisor, min_value=None):
    """CVNets' ``utils.math_utils.make_divisible`` (TF's rounding): nearest
    multiple of ``divisor``, at least ``min_value`` (default ``divisor``),
    and never more than 10% below ``v``."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _scales(base, low, high, num_scales, divisor):
    """CVNets' ``create_intervallic_integer_list``: ``num_scales`` values
    from ``low`` to ``high`` plus ``base``, each made divisible by
    ``divisor``, sorted (duplicates kept, as upstream)."""
    values = set(np.linspace(low, high, num_scales))
    values.add(base)
    return sorted(_make_divisible(v, divisor) for v in values)


def _pair(size: Size, name: str) -> Tuple[int, int]:
    if isinstance(size, int):
        size = (size, size)
    if (not isinstance(size, Sequence) or len(size) != 2
            or not all(isinstance(s, int) and s > 0 for s in size)):
        raise ValueError(f'{name} must be a positive int or (h, w) of '
                         f'positive ints, got {size!r}')
    return tuple(size)


def image_batch_pairs(base_size: Size, batch_size: int, min_size: Size,
                      max_size: Size, num_scales: int = 5,
                      size_divisor: int = 32) -> List[Tuple[int, int, int]]:
    """The ``(h, w, batch_size)`` triples of CVNets' variable-batch sampler
    (``data/sampler/utils.py``, ``image_batch_pairs``).

    Heights and widths are each ``num_scales`` values evenly spaced from
    ``min_size`` to ``max_size`` plus the base size, made divisible by
    ``size_divisor``; the i-th height goes with the i-th width; a crop of
    ``h x w`` gets ``int(round(base_h * base_w * batch_size / (h * w), 2))``
    images (at least 1), so each batch holds about as many pixels as a base
    batch. Sizes are ``(h, w)`` or an int for a square.
    """
    (base_h, base_w), (min_h, min_w), (max_h, max_w) = (
        _pair(base_size, 'base_size'), _pair(min_size, 'min_size'),
        _pair(max_size, 'max_size'))
    if not (isinstance(batch_size, int) and batch_size > 0):
        raise ValueError(f'batch_size must be a positive int, got '
                         f'{batch_size!r}')
    if not (isinstance(num_scales, int) and num_scales > 0):
        raise ValueError(f'num_scales must be a positive int, got '
                         f'{num_scales!r}')
    if not (isinstance(size_divisor, int) and size_divisor > 0):
        raise ValueError(f'size_divisor must be a positive int, got '
                         f'{size_divisor!r}')
    if min_h > max_h or min_w > max_w:
        raise ValueError(f'min_size {min_size!r} exceeds max_size '
                         f'{max_size!r}')
    heights = _scales(base_h, min_h, max_h, num_scales, size_divisor)
    widths = _scales(base_w, min_w, max_w, num_scales, size_divisor)
    pixels = base_h * base_w * batch_size
    return sorted({(h, w, max(1, int(round(pixels / (h * w), 2))))
                   for h, w in zip(heights, widths)})


class VariableBatchSampler(Sampler):
    """CVNets' variable-batch multi-scale sampler as an mmengine batch
    sampler (the dataloader's ``batch_sampler``; the Runner passes it the
    built ``sampler`` and the config's ``batch_size``).

    Each batch draws one ``(h, w, n)`` of :func:`image_batch_pairs` at
    random and takes the next ``n`` indices of ``sampler`` (this rank's
    shard); the last batch is filled up from the start of the shard, as
    CVNets does. Batches are lists of ``(h, w, index)``: wrap the dataset in
    :class:`VariableBatchDataset`.

    The draws come from a generator seeded with the sampler's ``seed`` and
    ``epoch`` (``DefaultSampler``'s, which every rank shares), so all ranks
    draw the same sizes and run the same number of batches, and an epoch is
    repeatable; ``set_epoch`` (called by ``DistSamplerSeedHook`` on
    ``batch_sampler.sampler``) changes both the order and the sizes.

    Args:
        sampler (Sampler): yields this rank's indices; with DDP every rank
            must get as many (``DefaultSampler(round_up=True)``).
        batch_size (int): images per GPU at ``base_size``.
        base_size, min_size, max_size (int | (h, w)): CVNets'
            ``crop_size_{height,width}``, ``min_crop_size_*``,
            ``max_crop_size_*``. Defaults 256, 160, 320.
        num_scales (int): CVNets' ``max_n_scales``. Defaults to 5.
        size_divisor (int): CVNets' ``check_scale``. Defaults to 32.
        seed (int, optional): used when ``sampler`` has no ``seed``;
            defaults to a seed shared by all ranks.
    """

    def __init__(self, sampler: Sampler, batch_size: int,
                 base_size: Size = 256, min_size: Size = 160,
                 max_size: Size = 320, num_scales: int = 5,
                 size_divisor: int = 32, seed=None) -> None:
        if not isinstance(sampler, Sampler):
            raise TypeError(f'sampler must be a torch Sampler, got '
                            f'{type(sampler).__name__}')
        if getattr(sampler, 'round_up', True) is False and getattr(
                sampler, 'world_size', 1) > 1:
            raise ValueError(
                'VariableBatchSampler needs every rank to get as many '
                'indices (DefaultSampler(round_up=True)); with round_up='
                'False the ranks could run different numbers of batches')
        self.sampler = sampler
        self.batch_size = batch_size
        self.base_size = _pair(base_size, 'base_size')
        self.pairs = image_batch_pairs(base_size, batch_size, min_size,
                                       max_size, num_scales, size_divisor)
        if seed is None and not hasattr(sampler, 'seed'):
            seed = sync_random_seed()  # the same on every rank
        self._seed = seed
        self._epoch = 0

    @property
    def seed(self) -> int:
        return getattr(self.sampler, 'seed', self._seed)

    @property
    def epoch(self) -> int:
        return getattr(self.sampler, 'epoch', self._epoch)

    def set_epoch(self, epoch: int) -> None:
        self._epoch = epoch
        if hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)

    def _draws(self, num_samples: int) -> List[Tuple[int, int, int]]:
        """The sizes of this epoch's batches, the same on every rank."""
        rng = random.Random(self.seed * 100003 + self.epoch)
        draws, covered = [], 0
        while covered < num_samples:
            draws.append(rng.choice(self.pairs))
            covered += draws[-1][2]
        return draws

    def __iter__(self) -> Iterator[List[Tuple[int, int, int]]]:
        indices = list(self.sampler)
        start = 0
        for h, w, n in self._draws(len(indices)):
            batch = indices[start:start + n]
            if len(batch) < n:  # fill the last batch from the start
                batch += indices[:n - len(batch)]
            start += n
            yield [(h, w, i) for i in batch]

    def __len__(self) -> int:
        """This epoch's number of batches (sizes are drawn per epoch)."""
        return len(self._draws(len(self.sampler)))

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(base_size={self.base_size}, '
                f'batch_size={self.batch_size}, scales={self.pairs})')


class VariableBatchDataset:
    """Wraps a dataset so that it takes the ``(h, w, index)`` items of
    :class:`VariableBatchSampler`: the sample is read and passed through the
    wrapped dataset's pipeline with ``results['crop_size'] = (h, w)``, which
    :class:`VariableRandomResizedCrop` resizes to. A plain ``index`` is
    ``dataset[index]``.

    Args:
        dataset (BaseDataset | dict): the dataset (or its config), with
            ``get_data_info`` and ``pipeline`` as mmengine's BaseDataset.
        lazy_init (bool): defer the wrapped dataset's ``full_init``.
    """

    def __init__(self, dataset, lazy_init: bool = False) -> None:
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        if not (hasattr(dataset, 'get_data_info')
                and callable(getattr(dataset, 'pipeline', None))):
            raise TypeError(
                'VariableBatchDataset wraps a dataset with get_data_info() '
                f'and a pipeline (mmengine BaseDataset), got '
                f'{type(dataset).__name__}')
        self.dataset = dataset
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self.dataset.metainfo)

    def full_init(self) -> None:
        if not self._fully_initialized:
            if hasattr(self.dataset, 'full_init'):
                self.dataset.full_init()
            self._fully_initialized = True

    def get_data_info(self, idx: int) -> dict:
        return self.dataset.get_data_info(idx)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item):
        self.full_init()
        if not isinstance(item, tuple):
            return self.dataset[item]
        if len(item) != 3:
            raise ValueError(f'VariableBatchDataset takes an index or '
                             f'(h, w, index), got {item!r}')
        h, w, idx = item
        results = self.dataset.get_data_info(idx)
        results['crop_size'] = (int(h), int(w))
        return self.dataset.pipeline(results)

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.dataset!r})'


class VariableRandomResizedCrop(RandomResizedCrop):
    """MMPretrain's ``RandomResizedCrop`` (same crop sampling, same resize)
    to the sample's ``results['crop_size']`` (h, w) when there is one (set
    by :class:`VariableBatchDataset`), else to ``scale``."""

    def transform(self, results: dict) -> dict:
        size = results.get('crop_size')
        if size is None:
            return super().transform(results)
        scale, self.scale = self.scale, _pair(tuple(size), 'crop_size')
        try:
            return super().transform(results)
        finally:
            self.scale = scale


register_in(DATA_SAMPLERS, VariableBatchSampler)
register_in(DATASETS, VariableBatchDataset)
register_in(TRANSFORMS, VariableRandomResizedCrop)
