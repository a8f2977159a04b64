"""The backbone contract, once for every registered backbone (timm's
``tests/test_models.py`` style): every :class:`HybridBackbone` subclass in
mmhybrid's MODELS registry, including the example family of
``docs/adding_a_family.md``, at the smallest arch of its ``arch_zoo``.

Non-divisible input sides round per family as its strided convolutions do:
SHViT, HarmoVision and the example family round up (3x3 stride-2 convs,
padding 1: ceil(S / r)); CSWin's 7x7 stride-4 stem gives floor((S + 1) / 4)
and its merges round up; HAM-ViT's stem rounds up (ceil(S / 8)) and its
2x2 patch embedding down. The suite asserts what holds for all of them: a
side of S gives floor(S / r) or ceil(S / r) (exactly S / r when divisible);
each family's own test file pins its rule.
"""
import functools
import math

import pytest
import torch
import torch.utils.checkpoint
from torch.nn.modules.batchnorm import _BatchNorm

import mmhybrid.models  # noqa: F401  (registers the families)
import tests.example_family.toy_hybrid  # noqa: F401  (the example family)
from mmhybrid.models.backbones.base import HybridBackbone
from mmhybrid.models.layers import AttentionMap
from mmhybrid.registry import MODELS
from mmhybrid.visualization import capture_attention

FAMILIES = sorted(
    (cls for cls in MODELS.module_dict.values()
     if isinstance(cls, type) and issubclass(cls, HybridBackbone)),
    key=lambda cls: cls.__name__)
SQUARE, ODD, NON_SQUARE = (256, 256), (511, 511), (112, 137)
SMALL = (64, 80)  # for the tests that run backward


def _n_params(model):
    return sum(p.numel() for p in model.parameters())


@functools.lru_cache(maxsize=None)
def smallest_arch(cls):
    """The arch of ``cls.arch_zoo`` with the fewest parameters."""
    return min(cls.arch_zoo, key=lambda a: _n_params(cls(arch=a)))


@functools.lru_cache(maxsize=None)
def num_out_indices(cls):
    return len(cls(arch=smallest_arch(cls)).stage_info())


def build(cls, **kwargs):
    """The smallest arch, every stage as an output unless asked otherwise."""
    kwargs.setdefault('out_indices', tuple(range(num_out_indices(cls))))
    return cls(arch=smallest_arch(cls), **kwargs)


def _max_frozen_stages(cls):
    k = 0
    while k < 16:
        try:
            build(cls, frozen_stages=k + 1)
        except ValueError:
            return k
        k += 1
    raise AssertionError(f'{cls.__name__} accepts any frozen_stages')


def _randomise_norms(model):
    """BN statistics and affines away from the identity, so that folding
    them (deploy) is a real transformation."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features,
                                                 generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features,
                                               generator=g) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(m.num_features,
                                              generator=g) + 0.5)
                    m.bias.copy_(torch.randn(m.num_features,
                                             generator=g) * 0.1)
    return model


def _forward(model, size, batch=1):
    with torch.no_grad():
        return model(torch.randn(batch, 3, *size))


parametrize_families = pytest.mark.parametrize(
    'cls', FAMILIES, ids=[cls.__name__ for cls in FAMILIES])


def test_every_family_is_collected():
    names = {cls.__name__ for cls in FAMILIES}
    assert {'SHViT', 'HarmoVision', 'HAMViT', 'ToyHybrid'} <= names
    assert len(names) >= 5  # and the CSWin backbone, whatever its name


@parametrize_families
@pytest.mark.parametrize('size', [SQUARE, ODD, NON_SQUARE],
                         ids=['square', 'odd', 'non_square'])
def test_outputs_match_feature_info(cls, size):
    model = build(cls).eval()
    outs = _forward(model, size)
    info = model.feature_info
    assert isinstance(outs, tuple) and len(outs) == len(info)
    assert model.out_channels == [f['num_chs'] for f in info]
    for out, f in zip(outs, info):
        assert set(f) == {'num_chs', 'reduction', 'module'}
        model.get_submodule(f['module'])  # names a real module
        assert out.dim() == 4 and out.is_contiguous(), f
        assert out.shape[:2] == (1, f['num_chs']), f
        for side, s in zip(out.shape[2:], size):
            r = f['reduction']
            assert s // r <= side <= math.ceil(s / r), (f, out.shape, size)
            if s % r == 0:
                assert side == s // r, (f, out.shape, size)


@parametrize_families
def test_feature_info_follows_out_indices(cls):
    full = build(cls).feature_info
    n = len(full)
    for out_indices in [(n - 1, ), (0, -1)]:
        model = build(cls, out_indices=out_indices).eval()
        expected = [full[i] for i in sorted({i % n for i in out_indices})]
        assert model.feature_info == expected
        outs = _forward(model, SMALL)
        assert [o.shape[1] for o in outs] == [f['num_chs'] for f in expected]


@parametrize_families
def test_frozen_stages_freeze(cls):
    assert all(p.requires_grad for p in build(cls).train().parameters())
    max_k = _max_frozen_stages(cls)
    names = {n for n, _ in build(cls).named_parameters()}
    previous = set()
    for k in range(max_k + 1):
        model = build(cls, frozen_stages=k).train()
        frozen = {n for n, p in model.named_parameters()
                  if not p.requires_grad}
        assert previous < frozen, f'frozen_stages={k} freezes no more'
        if k < max_k:
            assert frozen != names
        for stage in model.stages()[:k]:
            assert all(not p.requires_grad for p in stage.parameters())
        # a module whose own parameters are frozen stays in eval mode
        for name, m in model.named_modules():
            own = [f'{name}.{n}' for n, _ in m.named_parameters(
                recurse=False)]
            if name and own and set(own) <= frozen:
                assert not m.training, f'{name} (frozen) is training'
        previous = frozen
    # frozen weights do not move in a training step
    model = build(cls, frozen_stages=0).train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()
              if not p.requires_grad}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                          lr=0.1)
    sum(o.mean() for o in model(torch.randn(2, 3, *SMALL))).backward()
    opt.step()
    for n, p in model.named_parameters():
        if n in before:
            assert torch.equal(p, before[n]), n


@parametrize_families
def test_norm_eval_keeps_batchnorms_in_eval(cls):
    model = build(cls, norm_eval=True).train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert all(not m.training for m in bns)
    # nothing else is put in eval mode
    assert all(m.training for m in model.modules()
               if not isinstance(m, _BatchNorm))
    stats = [m.running_mean.clone() for m in bns]
    model(torch.randn(2, 3, *SMALL))
    assert all(torch.equal(s, m.running_mean) for s, m in zip(stats, bns))


@parametrize_families
def test_with_cp_same_outputs_and_gradients(cls, monkeypatch):
    model = build(cls).train()
    model_cp = build(cls, with_cp=True).train()
    model_cp.load_state_dict(model.state_dict())
    calls = []
    checkpoint = torch.utils.checkpoint.checkpoint

    def counting(*args, **kwargs):
        calls.append(1)
        return checkpoint(*args, **kwargs)

    monkeypatch.setattr(torch.utils.checkpoint, 'checkpoint', counting)
    x = torch.randn(2, 3, *SMALL)
    results = []
    for m in (model, model_cp):
        torch.manual_seed(0)  # same drop-path draws
        outs = m(x)
        sum(o.sum() for o in outs).backward()
        results.append((outs, {n: p.grad for n, p in m.named_parameters()}))
    assert calls, 'with_cp=True checkpoints nothing'
    (outs, grads), (outs_cp, grads_cp) = results
    for o, o_cp in zip(outs, outs_cp):
        torch.testing.assert_close(o_cp, o)
    assert grads.keys() == grads_cp.keys()
    for n in grads:
        torch.testing.assert_close(grads_cp[n], grads[n], msg=n)


def _weight_sum(model):
    return sum(float(p.double().sum()) for p in model.parameters())


@parametrize_families
def test_init_cfg_pretrained_loads_the_weights(cls, tmp_path):
    src = build(cls)
    src.init_weights()
    with torch.no_grad():
        for p in src.parameters():
            p.add_(0.01)  # away from any initial value
    path = tmp_path / 'pretrained.pth'
    torch.save(src.state_dict(), path)
    model = build(cls, init_cfg=dict(type='Pretrained',
                                     checkpoint=str(path)))
    before = _weight_sum(model)
    model.init_weights()
    after = _weight_sum(model)
    assert after != before
    assert after == pytest.approx(_weight_sum(src))
    for k, v in src.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


@parametrize_families
def test_strict_save_load_round_trip(cls, tmp_path):
    src = _randomise_norms(build(cls)).eval()
    path = tmp_path / 'state.pth'
    torch.save(src.state_dict(), path)
    model = build(cls)
    model.load_state_dict(torch.load(path, weights_only=True), strict=True)
    model.eval()
    x = torch.randn(1, 3, *SMALL)
    with torch.no_grad():
        for a, b in zip(src(x), model(x)):
            assert torch.equal(a, b)


@parametrize_families
def test_switch_to_deploy_equals_eval(cls):
    model = _randomise_norms(build(cls)).eval()
    x = torch.randn(1, 3, *NON_SQUARE)
    with torch.no_grad():
        ref = model(x)
        model.switch_to_deploy()
        outs = model(x)
    assert len(outs) == len(ref)
    for o, r in zip(outs, ref):
        assert o.shape == r.shape and o.is_contiguous()
        torch.testing.assert_close(o, r, rtol=1e-3,
                                   atol=1e-4 * float(r.abs().max()))


@parametrize_families
def test_unknown_arch_names_the_valid_ones(cls):
    with pytest.raises(ValueError) as err:
        cls(arch='no_such_arch')
    for name in cls.arch_zoo:
        assert repr(name) in str(err.value)
    with pytest.raises(ValueError, match='lacks keys'):
        cls(arch={})


@parametrize_families
def test_bad_out_indices_and_frozen_stages_raise(cls):
    n = num_out_indices(cls)
    with pytest.raises(ValueError, match='out_indices'):
        build(cls, out_indices=(n, ))
    with pytest.raises(ValueError, match='frozen_stages'):
        build(cls, frozen_stages=-2)


@parametrize_families
def test_attention_maps_are_captured(cls):
    """Every AttentionMap the forward passes through gives a record, and
    capturing changes no output."""
    model = _randomise_norms(build(cls)).eval()
    owners = {n.rpartition('.')[0] for n, m in model.named_modules()
              if isinstance(m, AttentionMap)}
    x = torch.randn(1, 3, *SMALL)
    with torch.no_grad():
        ref = model(x)
    outs = []
    records = capture_attention(model, lambda: outs.extend(model(x)))
    for a, b in zip(outs, ref):
        assert torch.equal(a, b)
    assert owners and {r['name'] for r in records} == owners
    for r in records:
        for v in r['maps'].values():
            assert v.shape[0] == 1 and torch.isfinite(v).all()
        if 'query' in r['maps']:  # a softmaxed row, cropped to the map
            assert 0 < float(r['maps']['query'].sum()) <= 1 + 1e-4


@parametrize_families
def test_default_cam_layer_is_in_the_last_stage(cls):
    model = build(cls)
    layer = model.default_cam_layer()
    assert any(m is layer for m in model.stages()[-1].modules())
