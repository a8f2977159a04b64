"""The CSWin backbone (also GA-CSWin's): equality with the upstream code,
checkpoint layouts, its rounding of odd input sizes, block taps, errors (the
backbone contract: test_contract.py)."""
import logging
import math

import pytest
import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

from mmhybrid.models import CSWin
from mmhybrid.models.backbones.cswin import cswin_layout
from reference import (assert_close_to_ref, deterministic_state_dict,
                       manifest, reference_input, reference_outputs)

ARCHS = ['t', 's']
# CSWin paper: CSWin-T/S with the 1000-class head, 23M / 35M
PAPER_PARAMS = {'t': 23e6, 's': 35e6}
TINY = dict(embed_dims=[16, 32, 64, 128], depths=[1, 1, 10, 1],
            num_heads=[2, 2, 4, 8], split_sizes=[1, 2, 7, 7])


def _save(state_dict, path, wrapper=None):
    torch.save({wrapper: state_dict} if wrapper else state_dict, path)
    return str(path)


def _load(arch, path, **kwargs):
    model = CSWin(arch=arch, init_cfg=dict(type='Pretrained',
                                           checkpoint=path), **kwargs)
    model.init_weights()
    return model.eval()


def _log_of(fn):
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        fn()
    finally:
        logger.removeHandler(handler)
    return '\n'.join(records)


def _inputs(ref):
    return (reference_input((1, 3, ref['res'], ref['res']),
                            ref['input_seed']),
            reference_input((1, 3, *ref['odd_shape']), ref['odd_input_seed']))


@pytest.mark.parametrize('arch', ARCHS)
def test_features_equal_upstream_segmentation_backbone(arch, tmp_path):
    ref = reference_outputs(f'cswin_{arch}')
    path = _save(deterministic_state_dict(manifest(f'cswin_{arch}_backbone')),
                 tmp_path / f'cswin_{arch}.pth')
    model = _load(arch, path)
    x, x_odd = _inputs(ref)
    errors = {}
    with torch.no_grad():
        for tag, inp in (('', x), ('odd_', x_odd)):
            for i, feat in enumerate(model(inp)):
                key = f'{tag}feat{i}'
                errors[key] = assert_close_to_ref(feat, ref[key],
                                                  f'{arch} {key}')
    print(f'cswin_{arch} max rel err: ' +
          ', '.join(f'{k} {v:.1e}' for k, v in errors.items()))


def test_mmseg_checkpoint_layout_loads_backbone_keys(tmp_path):
    """An mmseg/mmhybrid checkpoint (``backbone.*`` plus head keys under
    ``state_dict``) gives the upstream features."""
    ref = reference_outputs('cswin_t')
    state_dict = {
        f'backbone.{k}': v for k, v in deterministic_state_dict(
            manifest('cswin_t_backbone')).items()
    }
    state_dict['decode_head.conv_seg.weight'] = torch.zeros(150, 512, 1, 1)
    assert cswin_layout(state_dict) == 'mmhybrid'
    model = _load('t', _save(state_dict, tmp_path / 'upernet.pth',
                             'state_dict'))
    _, x_odd = _inputs(ref)
    with torch.no_grad():
        assert_close_to_ref(model(x_odd)[3], ref['odd_feat3'], 'mmseg feat3')


@pytest.mark.parametrize('arch', ARCHS)
def test_imagenet_checkpoint(arch, tmp_path):
    """Official ImageNet layout under 'state_dict_ema': norm/head skipped and
    reported, norm1..4 fresh and reported, stage features identical to the
    backbone-layout load, logits equal upstream with CSWin's classifier."""
    imagenet = deterministic_state_dict(manifest(f'cswin_{arch}_imagenet'))
    assert cswin_layout(imagenet) == 'imagenet'
    path = _save(imagenet, tmp_path / 'imagenet.pth', 'state_dict_ema')
    model = CSWin(arch=arch, init_cfg=dict(type='Pretrained',
                                           checkpoint=path))
    log = _log_of(model.init_weights)
    model.eval()
    assert 'Skipped 4 checkpoint keys' in log
    for key in ('norm.weight', 'norm.bias', 'head.weight', 'head.bias'):
        assert key in log
    for i in range(1, 5):
        assert f'norm{i}.weight' in log and f'norm{i}.bias' in log
        norm = getattr(model, f'norm{i}')
        assert torch.equal(norm.weight, torch.ones_like(norm.weight))
        assert torch.equal(norm.bias, torch.zeros_like(norm.bias))

    # the raw stage outputs (no output norms) of both layouts are identical
    raw = _load(arch, path, out_norm=False)
    raw_bb = _load(arch, _save(
        deterministic_state_dict(manifest(f'cswin_{arch}_backbone')),
        tmp_path / 'backbone.pth'), out_norm=False)
    ref = reference_outputs(f'cswin_{arch}')
    x, _ = _inputs(ref)
    with torch.no_grad():
        stages, stages_bb = raw(x), raw_bb(x)
        for a, b in zip(stages, stages_bb):
            assert torch.equal(a, b)
        # CSWin's classifier: LayerNorm over the final tokens, mean, Linear
        norm, head = nn.LayerNorm(512), nn.Linear(512, 1000)
        norm.load_state_dict(dict(weight=imagenet['norm.weight'],
                                  bias=imagenet['norm.bias']))
        head.load_state_dict(dict(weight=imagenet['head.weight'],
                                  bias=imagenet['head.bias']))
        logits = head(norm(stages[3].flatten(2).transpose(1, 2)).mean(1))
    err = assert_close_to_ref(logits, ref['logits'], f'{arch} logits')
    print(f'cswin_{arch} ImageNet logits max rel err {err:.1e}')


@pytest.mark.parametrize('arch', ARCHS)
def test_param_count(arch):
    """Same tensors as the official layouts; ~23M / 35M with the head."""
    model = CSWin(arch=arch)
    n = sum(p.numel() for p in model.parameters())
    assert n == sum(math.prod(s) for s in manifest(
        f'cswin_{arch}_backbone').values())
    with_head = n - 2 * sum(model.embed_dims) + 2 * 512 + 513 * 1000
    assert with_head == sum(math.prod(s) for s in manifest(
        f'cswin_{arch}_imagenet').values())
    print(f'cswin_{arch}: backbone {n / 1e6:.2f}M params, ImageNet '
          f'classifier {with_head / 1e6:.2f}M')
    assert abs(with_head - PAPER_PARAMS[arch]) / PAPER_PARAMS[arch] < 0.04


@pytest.mark.parametrize('size', [(333, 517), (250, 330), (64, 64),
                                  (37, 101)])
def test_any_input_size_shapes_and_strides(size):
    model = CSWin(arch=TINY).eval()
    outs = model(torch.randn(1, 3, *size))
    h, w = ((s - 3) // 4 + 1 for s in size)  # the 7x7 stride-4 stem
    for i, out in enumerate(outs):
        assert out.shape == (1, TINY['embed_dims'][i], h, w)
        h, w = -(-h // 2), -(-w // 2)  # the stride-2 merges: ceil


def test_strides_of_arch_t_on_odd_input():
    model = CSWin(arch='t').eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 333, 517))
    assert [tuple(o.shape[1:]) for o in outs] == [
        (64, 83, 129), (128, 42, 65), (256, 21, 33), (512, 11, 17)]
    assert model.out_channels == [64, 128, 256, 512]


@pytest.mark.parametrize('out_indices,channels', [((0, 1, 2, 3),
                                                   [16, 32, 64, 128]),
                                                  ((3, ), [128]),
                                                  ((1, -1), [32, 128])])
def test_out_indices(out_indices, channels):
    model = CSWin(arch=TINY, out_indices=out_indices).eval()
    outs = model(torch.randn(1, 3, 96, 96))
    assert [o.shape[1] for o in outs] == channels == model.out_channels
    norms = {i for i in range(1, 5) if hasattr(model, f'norm{i}')}
    assert norms == {i % 4 + 1 for i in out_indices}


def test_taps_are_raw_block_outputs_after_the_stage_outputs():
    """``taps`` appends the NCHW outputs of the given blocks of one stage,
    never normed, in the order given; out_channels/feature_info cover them."""
    taps = dict(stage=2, blocks=(1, 3, 5, -3))
    model = CSWin(arch=TINY, taps=taps).eval()
    assert model.taps == dict(stage=2, blocks=(1, 3, 5, 7))
    assert model.out_channels == [16, 32, 64, 128] + [64] * 4
    assert [f['reduction'] for f in model.feature_info] == \
        [4, 8, 16, 32] + [16] * 4
    raw = CSWin(arch=TINY, out_norm=False).eval()
    raw.load_state_dict(model.state_dict(), strict=False)
    x = torch.randn(1, 3, 100, 90)
    with torch.no_grad():
        outs = model(x)
        raw_outs = raw(x)
    assert len(outs) == 8 and not hasattr(raw, 'norm1')
    for i, (out, stage) in enumerate(zip(outs, raw_outs)):
        norm = getattr(model, f'norm{i + 1}')
        torch.testing.assert_close(
            norm(stage.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), out)
    # a tap after block j equals the stage-3 output of a model whose stage 3
    # stops there
    for tap, j in zip(outs[4:], (1, 3, 5, 7)):
        shallow = CSWin(arch=dict(TINY, depths=[1, 1, j + 1, 1]),
                        out_norm=False, out_indices=(2, )).eval()
        shallow.load_state_dict(model.state_dict(), strict=False)
        with torch.no_grad():
            torch.testing.assert_close(shallow(x)[0], tap)
        assert tap.is_contiguous() and tap.shape == raw_outs[2].shape
    # only the requested stage outputs, then the taps in the order given
    model = CSWin(arch=TINY, out_indices=(3, ),
                  taps=dict(stage=1, blocks=[0])).eval()
    with torch.no_grad():
        outs = model(x)
    assert [o.shape[1] for o in outs] == model.out_channels == [128, 32]
    assert [f['reduction'] for f in model.feature_info] == [32, 8]


@pytest.mark.parametrize('taps,match', [
    (dict(stage=4, blocks=(0, )), 'stage must be in'),
    (dict(stage=2, blocks=(10, )), 'blocks must be indices'),
    (dict(stage=2, blocks=()), 'blocks must be indices'),
    (dict(stage=2), 'taps must be dict'),
    ((2, 3), 'taps must be dict'),
])
def test_taps_errors(taps, match):
    with pytest.raises(ValueError, match=match):
        CSWin(arch=TINY, taps=taps)


def test_deep_stem():
    model = CSWin(arch=TINY, stem='deep').eval()
    convs = [m for m in model.stage1_conv_embed if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3 and all(c.bias is None for c in convs)
    assert [c.stride for c in convs] == [(2, 2), (1, 1), (2, 2)]
    # upstream's inner width is its embed_dim, the stage-1 width
    # (GA/ga_cswin.py:463-474)
    dim = model.embed_dims[0]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (3, dim), (dim, dim), (dim, dim)]
    outs = model(torch.randn(1, 3, 250, 330))
    assert [o.shape[2:] for o in outs][0] == (63, 83)
    with pytest.raises(ValueError, match='7x7'):
        CSWin(arch=TINY, stem='5x5')


def test_drop_path_rises_linearly():
    model = CSWin(arch='t', drop_path_rate=0.2)
    blocks = [b for s in model.stages() for b in s]
    assert isinstance(blocks[0].drop_path, nn.Identity)
    assert blocks[-1].drop_path.drop_prob == pytest.approx(0.2)
    assert blocks[12].drop_path.drop_prob == pytest.approx(0.2 * 12 / 24)


def test_custom_arch_and_unknown_arch():
    assert CSWin(arch=TINY).out_channels == [16, 32, 64, 128]
    with pytest.raises(ValueError, match='lacks keys'):
        CSWin(arch=dict(embed_dims=[1, 2, 3, 4]))


def test_feature_info_counts_the_taps():
    """Taps follow the stage outputs in ``forward`` and in ``feature_info``."""
    model = CSWin(arch=TINY, out_indices=(1, 3), out_norm=False,
                  taps=dict(stage=2, blocks=(1, 3, 5, 7))).eval()
    info = model.feature_info
    assert info == [
        dict(num_chs=32, reduction=8, module='stage2'),
        dict(num_chs=128, reduction=32, module='stage4')] + [
        dict(num_chs=64, reduction=16, module=f'stage3.{j}')
        for j in (1, 3, 5, 7)]
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 128, 96))
    assert [tuple(o.shape[1:]) for o in outs] == [
        (f['num_chs'], 128 // f['reduction'], 96 // f['reduction'])
        for f in info]


def test_missing_checkpoint_names_path(tmp_path):
    path = str(tmp_path / 'nope' / 'cswin_t.pth')
    model = CSWin(arch='t', init_cfg=dict(type='Pretrained',
                                          checkpoint=path))
    with pytest.raises(FileNotFoundError, match='nope/cswin_t.pth'):
        model.init_weights()


def test_wrong_shapes_list_keys_and_load_nothing(tmp_path):
    state_dict = deterministic_state_dict(manifest('cswin_t_backbone'))
    state_dict['stage3.0.qkv.weight'] = torch.zeros(10, 256)
    path = _save(state_dict, tmp_path / 't.pth')
    model = CSWin(arch='t', init_cfg=dict(type='Pretrained',
                                          checkpoint=path))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match=r'stage3\.0\.qkv\.weight'):
        model.init_weights()
    # an arch-t checkpoint for arch s: the missing blocks are listed
    model_s = CSWin(arch='s', init_cfg=dict(type='Pretrained',
                                            checkpoint=path))
    with pytest.raises(RuntimeError, match=r'stage1\.1\.qkv\.weight'):
        model_s.init_weights()
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_missing_block_keys_are_not_excused(tmp_path):
    """Only norm1..norm4 may be missing."""
    state_dict = deterministic_state_dict(manifest('cswin_t_imagenet'))
    del state_dict['stage2.1.mlp.fc2.bias']
    model = CSWin(arch='t', init_cfg=dict(type='Pretrained',
                                          checkpoint=_save(
                                              state_dict,
                                              tmp_path / 'x.pth',
                                              'model')))
    with pytest.raises(RuntimeError, match=r'stage2\.1\.mlp\.fc2\.bias'):
        model.init_weights()


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_build_from_config(scope):
    from mmdet.registry import MODELS as DET
    from mmpretrain.registry import MODELS as CLS
    from mmseg.registry import MODELS as SEG
    init_default_scope(scope)
    registry = dict(mmdet=DET, mmseg=SEG, mmpretrain=CLS)[scope]
    model = registry.build(dict(type='CSWin', arch='t', out_indices=(3, )))
    assert isinstance(model, CSWin) and model.out_channels == [512]
    assert [f['reduction'] for f in model.feature_info] == [32]
