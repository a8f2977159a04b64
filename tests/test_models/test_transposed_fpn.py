import pytest
import torch

from mmhybrid.models import SHViT, TransposedConvFPN


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
