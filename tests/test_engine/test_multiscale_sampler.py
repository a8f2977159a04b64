"""CVNets' multi-scale variable-batch sampling (mmhybrid.datasets):
the (crop, batch) pairs follow CVNets' formula, batches through a real
DataLoader with a worker have their batch's crop size, every index comes
once per epoch per rank, ranks split the data and agree on the sizes."""
import math
from unittest import mock

import numpy as np
import pytest
import torch
from mmengine.dataset import BaseDataset, DefaultSampler
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmhybrid.datasets import (VariableBatchDataset, VariableBatchSampler,
                               VariableRandomResizedCrop, image_batch_pairs)


def _tf_round(v, divisor):
    """Nearest multiple of ``divisor`` (halves up), at least ``divisor``,
    bumped up when that loses more than 10% (CVNets' make_divisible)."""
    m = max(divisor, math.floor((v + divisor / 2) / divisor) * divisor)
    return m + divisor if m < 0.9 * v else m


def _expected_pairs(base, batch, low, high, n, divisor):
    """CVNets' image_batch_pairs re-derived: n evenly spaced sizes from
    low to high plus the base, each rounded to the divisor, paired in
    sorted order (h from the h range, w from the w range); the batch keeps
    base_h * base_w * batch pixels, truncated after rounding to 2 places."""
    sizes = []
    for b, lo, hi in zip(base, low, high):
        vals = {lo + k * (hi - lo) / (n - 1) for k in range(n)} | {b}
        sizes.append(sorted(_tf_round(v, divisor) for v in vals))
    pixels = base[0] * base[1] * batch
    return sorted({(h, w, max(1, int(round(pixels / (h * w), 2))))
                   for h, w in zip(*sizes)})


def test_pairs_of_the_harmovision_recipe():
    # config.yaml:12 (256 per GPU), :34-41 (256 base, 160-320, 5, /32)
    got = image_batch_pairs(256, 256, 160, 320, 5, 32)
    assert got == _expected_pairs((256, 256), 256, (160, 160), (320, 320),
                                  5, 32)
    sizes = [h for h, _, _ in got]
    assert len(got) == 5 and 256 in sizes and min(sizes) == 160 \
        and max(sizes) == 320
    for h, w, n in got:
        assert h == w and h % 32 == 0
        # about the base batch's pixels: within one image either way
        assert abs(n * h * w - 256 ** 3) < h * w
    # the smaller the crop, the larger the batch
    assert [n for _, _, n in got] == sorted(
        (n for _, _, n in got), reverse=True)


def test_pairs_non_square_and_errors():
    got = image_batch_pairs((192, 256), 64, (128, 160), (256, 320), 4, 32)
    assert got == _expected_pairs((192, 256), 64, (128, 160), (256, 320),
                                  4, 32)
    assert any(h != w for h, w, _ in got)
    with pytest.raises(ValueError, match='batch_size'):
        image_batch_pairs(256, 0, 160, 320)
    with pytest.raises(ValueError, match='exceeds'):
        image_batch_pairs(256, 8, 320, 160)
    with pytest.raises(ValueError, match='min_size'):
        image_batch_pairs(256, 8, (160, 160, 3), 320)


class _ToyImages(BaseDataset):
    """Images of assorted sizes held in memory, labels 0..4."""

    def __init__(self, num=29, **kwargs):
        self.num = num
        super().__init__(serialize_data=False, **kwargs)

    def load_data_list(self):
        rng = np.random.default_rng(0)
        return [dict(img=rng.integers(0, 255, (int(rng.integers(40, 90)),
                                               int(rng.integers(40, 90)), 3),
                                      dtype=np.uint8),
                     gt_label=i % 5) for i in range(self.num)]


def _toy(num=29):
    return _ToyImages(num, pipeline=[
        dict(type='VariableRandomResizedCrop', scale=32),
        dict(type='PackInputs')])


def _batch_sampler(dataset, **kw):
    sampler = DefaultSampler(dataset, shuffle=True, seed=3)
    cfg = dict(base_size=32, min_size=16, max_size=64, num_scales=4,
               size_divisor=16)
    cfg.update(kw)
    return VariableBatchSampler(sampler, batch_size=4, **cfg)


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmpretrain')


def test_dataloader_batches_have_their_crop_size():
    dataset = _toy()
    loader = Runner.build_dataloader(dict(
        batch_size=4, num_workers=1,
        sampler=dict(type='DefaultSampler', shuffle=True, seed=3),
        batch_sampler=dict(type='VariableBatchSampler', base_size=32,
                           min_size=16, max_size=64, num_scales=4,
                           size_divisor=16),
        dataset=dict(type='VariableBatchDataset', dataset=dataset)))
    assert isinstance(loader.batch_sampler, VariableBatchSampler)
    assert isinstance(loader.dataset, VariableBatchDataset)
    for epoch in (0, 1):
        # what DistSamplerSeedHook does with a batch sampler
        loader.batch_sampler.sampler.set_epoch(epoch)
        plan = list(loader.batch_sampler)
        batches = list(loader)
        assert len(batches) == len(plan) == len(loader)
        seen = []
        for want, got in zip(plan, batches):
            h, w = want[0][:2]
            assert [tuple(x.shape) for x in got['inputs']] == \
                [(3, h, w)] * len(want)
            idx = [s.sample_idx for s in got['data_samples']]
            assert idx == [i for _, _, i in want]
            seen += idx
        assert set(seen) == set(range(len(dataset)))
        assert len({w[0][:2] for w in plan}) > 1, 'crop sizes never vary'
        assert len({len(w) for w in plan}) > 1, 'batch sizes never vary'


def test_every_index_once_per_epoch_and_deterministic():
    dataset = _toy(53)
    bs = _batch_sampler(dataset)
    sizes = {(h, w): n for h, w, n in bs.pairs}
    for epoch in range(3):
        bs.set_epoch(epoch)
        batches = list(bs)
        assert batches == list(bs), 'not repeatable within an epoch'
        flat = [i for b in batches for _, _, i in b]
        for b in batches:  # one crop per batch, its pair's batch size
            assert len({(h, w) for h, w, _ in b}) == 1
            assert len(b) == sizes[b[0][:2]]
        body = [i for b in batches[:-1] for _, _, i in b]
        assert len(body) == len(set(body)) < len(dataset)
        # the last batch finishes the epoch, then fills from the start
        rest = len(dataset) - len(body)
        last = [i for _, _, i in batches[-1]]
        assert sorted(body + last[:rest]) == list(range(len(dataset)))
        assert last[rest:] == flat[:len(last) - rest]
    bs.set_epoch(0)
    e0 = list(bs)
    bs.set_epoch(1)
    assert list(bs) != e0


def test_two_ranks_are_disjoint_and_agree_on_sizes():
    dataset = _toy(60)
    per_rank = []
    for rank in (0, 1):
        with mock.patch('mmengine.dataset.sampler.get_dist_info',
                        return_value=(rank, 2)):
            bs = _batch_sampler(dataset)
        bs.set_epoch(4)
        per_rank.append(list(bs))
    a, b = per_rank
    assert [len(x) for x in a] == [len(x) for x in b]
    assert [x[0][:2] for x in a] == [x[0][:2] for x in b]
    shard = [{i for batch in r for _, _, i in batch} for r in per_rank]
    assert not shard[0] & shard[1]
    assert shard[0] | shard[1] == set(range(len(dataset)))
    assert len(shard[0]) == len(shard[1]) == 30


def test_bad_input_is_refused():
    dataset = _toy(8)
    with mock.patch('mmengine.dataset.sampler.get_dist_info',
                    return_value=(0, 2)):
        sampler = DefaultSampler(dataset, round_up=False, seed=0)
    with pytest.raises(ValueError, match='round_up'):
        VariableBatchSampler(sampler, batch_size=4)
    with pytest.raises(TypeError, match='Sampler'):
        VariableBatchSampler(list(range(8)), batch_size=4)
    with pytest.raises(TypeError, match='get_data_info'):
        VariableBatchDataset([1, 2, 3])
    with pytest.raises(ValueError, match=r'\(h, w, index\)'):
        VariableBatchDataset(dataset)[(16, 16)]


def test_crop_without_a_batch_size_uses_its_scale():
    crop = VariableRandomResizedCrop(scale=(24, 40))
    img = np.zeros((60, 70, 3), np.uint8)
    assert crop(dict(img=img))['img'].shape == (24, 40, 3)
    out = crop(dict(img=img, crop_size=(48, 32)))
    assert out['img'].shape == (48, 32, 3) and crop.scale == (24, 40)
    # a plain index passes through the wrapper unchanged
    wrapped = VariableBatchDataset(_toy(4))
    assert torch.is_tensor(wrapped[1]['inputs'])


def test_harmovision_config_train_dataloader():
    """The recipe's own train dataloader config (sampler, wrapper, crop,
    flip, packing) on in-memory images: each batch is cropped to one of
    the recipe's sizes, with that size's batch."""
    import os.path as osp

    from mmhybrid.apis import load_config
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    cfg = load_config(osp.join(root, 'configs/imagenet_harmovision_n.py'))
    dl = cfg.train_dataloader.to_dict()
    pipeline = dl['dataset']['dataset']['pipeline']
    assert pipeline[0]['type'] == 'LoadImageFromFile'
    dl['dataset']['dataset'] = _ToyImages(40, pipeline=pipeline[1:])
    dl.update(batch_size=4, num_workers=0, persistent_workers=False)
    loader = Runner.build_dataloader(dl, seed=0)
    pairs = image_batch_pairs(256, 4, 160, 320, 5, 32)
    assert loader.batch_sampler.pairs == pairs
    shapes = set()
    for batch in loader:
        h, w = batch['inputs'][0].shape[1:]
        assert (h, w, len(batch['inputs'])) in pairs
        shapes.add((h, w))
    assert len(shapes) > 1
