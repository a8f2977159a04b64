import pytest
import torch
from mmengine.runner.checkpoint import load_state_dict

from mmhybrid.models import SHViT, TransposedConvFPN
from reference import (assert_close_to_ref, deterministic_state_dict,
                       manifest, reference_input, reference_outputs)

# the official SHViT-S4 detector necks (mmdet 2.25 ``EfficientViTFPN``)
OFFICIAL_NECKS = {
    'shvit_s4_maskrcnn_neck': dict(num_upsample=2),
    'shvit_s4_retinanet_neck': dict(num_upsample=1,
                                    add_extra_convs='on_input'),
}


def _feats(size=(256, 320)):
    return SHViT(arch='s1').eval()(torch.randn(1, 3, *size))


def test_maskrcnn_levels_strides_4_to_64():
    neck = TransposedConvFPN([128, 224, 320], 64, num_outs=5)
    outs = neck(_feats())
    assert [o.shape[2:] for o in outs] == [(256 // s, 320 // s)
                                           for s in (4, 8, 16, 32, 64)]
    assert all(o.shape[1] == 64 for o in outs)


def test_retinanet_levels_strides_8_to_128():
    neck = TransposedConvFPN([128, 224, 320], 32, num_outs=5,
                             num_upsample=1, add_extra_convs='on_input')
    outs = neck(_feats((512, 512)))
    assert [o.shape[-1] for o in outs] == [512 // s
                                           for s in (8, 16, 32, 64, 128)]


def test_segmentation_levels_and_truncation():
    neck = TransposedConvFPN([128, 224, 320], 32, num_outs=4)
    outs = neck(_feats())
    assert [o.shape[-1] for o in outs] == [320 // s for s in (4, 8, 16, 32)]


def test_odd_input_sizes():
    neck = TransposedConvFPN([128, 224, 320], 16, num_outs=6,
                             add_extra_convs='on_output')
    outs = neck(_feats((250, 333)))
    assert len(outs) == 6 and outs[0].shape[2:] == (64, 84)


def test_bad_arguments():
    with pytest.raises(ValueError, match='add_extra_convs'):
        TransposedConvFPN([8, 16], 8, 3, add_extra_convs='on_lateral')
    neck = TransposedConvFPN([8, 16], 8, 3)
    with pytest.raises(ValueError, match='expects 2 inputs'):
        neck([torch.randn(1, 8, 4, 4)])


def _official_neck(name):
    return TransposedConvFPN([224, 336, 448], 256, num_outs=5,
                             **OFFICIAL_NECKS[name]).eval()


def _check_against_reference(neck, name):
    ref = reference_outputs(name)
    inputs = [
        reference_input((1, *shape), ref['input_seed'] + i)
        for i, shape in enumerate(ref['input_shapes'])
    ]
    with torch.no_grad():
        outs = neck(inputs)
    assert len(outs) == 5
    ratios = [assert_close_to_ref(out, ref[f'out{i}'], f'{name} out{i}')
              for i, out in enumerate(outs)]
    print(f'\n{name}: max|ours-ref|/max|ref| ' +
          ' '.join(f'out{i}={r:.2e}' for i, r in enumerate(ratios)))


def _to_v1_layout(official, num_upsample, num_ins=3):
    """The official neck keys as mmhybrid's first layout named them."""
    old = {}
    for key, value in official.items():
        module, idx, rest = key.split('.', 2)
        idx = int(idx)
        if module == 'extra_trans_convs':
            key = f'deconvs.{idx}.{rest[len("conv."):]}'
        elif module == 'extra_fpn_convs':
            key = f'up_convs.{num_upsample - 1 - idx}.{rest}'
        elif module == 'fpn_convs' and idx >= num_ins:
            key = f'extra_convs.{idx - num_ins}.{rest}'
        old[key] = value
    return old


@pytest.mark.parametrize('name', OFFICIAL_NECKS)
def test_official_checkpoint_equals_official_neck(name):
    """An official mmdet-2.25 neck state dict loads strictly (through
    mmengine, as ``load_from`` does) and gives the official outputs."""
    neck = _official_neck(name)
    load_state_dict(neck, deterministic_state_dict(manifest(name)),
                    strict=True)
    _check_against_reference(neck, name)


@pytest.mark.parametrize('name', OFFICIAL_NECKS)
def test_v1_checkpoint_is_upgraded(name):
    """A checkpoint saved with the first mmhybrid names (``deconvs``,
    ``up_convs`` in chain order, ``extra_convs``) loads strictly and gives
    the official outputs."""
    official = deterministic_state_dict(manifest(name))
    old = _to_v1_layout(official, OFFICIAL_NECKS[name]['num_upsample'])
    neck = _official_neck(name)
    result = neck.load_state_dict(old, strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []
    _check_against_reference(neck, name)

    fresh = _official_neck(name)
    load_state_dict(fresh, old, strict=True)
    saved = fresh.state_dict()
    assert saved._metadata['']['version'] == 2  # never renamed again
    for key, value in saved.items():
        torch.testing.assert_close(value, official[key], rtol=0, atol=0)



@pytest.mark.parametrize('num_outs', [3, 4, 5])
def test_every_parameter_gets_a_gradient(num_outs):
    """No parameter without gradient (DistributedDataParallel would stall),
    also when num_outs cuts off levels (the segmentation configs)."""
    neck = TransposedConvFPN([8, 16, 24], 8, num_outs=num_outs)
    feats = [torch.randn(1, c, s, s) for c, s in ((8, 8), (16, 4), (24, 2))]
    outs = neck(feats)
    assert len(outs) == num_outs
    sum(o.sum() for o in outs).backward()
    unused = [n for n, p in neck.named_parameters() if p.grad is None]
    assert not unused
