"""The one description of an OpenMMLab model's parts
(:mod:`mmhybrid.deploy.parts`) and its users: deploy, bf16, part timing and
the predictor read the same parts."""
import pytest
import torch.nn as nn

from mmhybrid.apis import build_model
from mmhybrid.apis.task_timing import PartTimer
from mmhybrid.deploy import (ROLES, bf16_islands, model_parts,
                             part_num_classes, switch_to_deploy)
from tests import ROOT

DET = f'{ROOT}/configs/demo/maskrcnn_shvit_s1_toy.py'
SEG = f'{ROOT}/configs/demo/fpn_shvit_s1_toy.py'


@pytest.fixture(scope='module')
def detector():
    return build_model(DET)


@pytest.fixture(scope='module')
def segmentor():
    return build_model(SEG)


def _roles(model):
    return [(p.role, p.name) for p in model_parts(model)]


def test_two_stage_detector_parts(detector):
    assert _roles(detector) == [
        ('data_preprocessor', 'data_preprocessor'),
        ('backbone', 'backbone'), ('neck', 'neck'),
        ('dense_head', 'rpn_head'), ('roi_head', 'roi_head'),
        ('roi_bbox_extractor', 'roi_head.bbox_roi_extractor'),
        ('roi_bbox_head', 'roi_head.bbox_head'),
        ('roi_mask_extractor', 'roi_head.mask_roi_extractor'),
        ('roi_mask_head', 'roi_head.mask_head')]
    for p in model_parts(detector):
        assert detector.get_submodule(p.name) is p.module
        assert p.traits is ROLES[p.role]


def test_segmentor_parts(segmentor):
    roles = _roles(segmentor)
    assert ('backbone', 'backbone') in roles
    assert ('decode_head', 'decode_head') in roles
    assert [r for r, _ in roles].count('dense_head') == 0


def test_users_read_the_parts(detector, segmentor):
    """bf16 islands, part timing and the class count come from the same
    parts (what each role says), not from tables of their own."""
    parts = model_parts(detector)
    assert [n for n, _ in bf16_islands(detector)] == [
        p.name for p in parts if p.traits.bf16 == '']
    labels = [label for label, _, _ in PartTimer(detector, None).parts()]
    assert labels == [
        'data_preprocessor', 'backbone', 'neck', 'rpn_head',
        'rpn_head.convs', 'roi_head', 'roi_head.bbox RoIAlign',
        'roi_head.bbox head', 'roi_head.mask RoIAlign', 'roi_head.mask head']
    assert part_num_classes(detector) == \
        detector.roi_head.bbox_head.num_classes != \
        detector.rpn_head.num_classes
    # a decode head is hooked at its conv_seg (its predict calls forward)
    assert [n for n, _ in bf16_islands(segmentor)][-1] == \
        'decode_head.conv_seg'
    assert part_num_classes(segmentor) == segmentor.decode_head.num_classes


class _Head(nn.Module):

    def __init__(self, num_classes=3):
        super().__init__()
        self.num_classes = num_classes
        self.conv = nn.Conv2d(4, 4, 1)


def test_cascade_members_and_wrappers():
    """A ModuleList under a part's name stands for its members (a cascade's
    stages); parts are found below a wrapper (DDP's ``module``)."""
    roi = nn.Module()
    roi.bbox_head = nn.ModuleList([_Head(5), _Head(5)])
    det = nn.Module()
    det.backbone = nn.Sequential(nn.Conv2d(3, 4, 1))
    det.roi_head = roi
    wrapper = nn.Module()
    wrapper.module = det
    assert _roles(wrapper) == [
        ('backbone', 'module.backbone'), ('roi_head', 'module.roi_head'),
        ('roi_bbox_head', 'module.roi_head.bbox_head.0'),
        ('roi_bbox_head', 'module.roi_head.bbox_head.1')]
    assert part_num_classes(wrapper) == 5
    # a name that is a part only inside a RoI head is nothing elsewhere
    other = nn.Module()
    other.mask_head = _Head()
    assert model_parts(other) == []
    assert part_num_classes(other) is None


def test_switch_to_deploy_switches_the_deploy_roles():
    det = nn.Module()
    det.backbone = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    det.neck = nn.Sequential(nn.Conv2d(4, 4, 1))
    det.data_preprocessor = nn.Sequential(nn.Conv2d(3, 3, 1))
    det.auxiliary_head = _Head()
    det.eval()
    done = switch_to_deploy(det)
    assert done == ['Sequential', 'Sequential', '_Head']
    assert det.backbone.deploy and det.neck.deploy and \
        det.auxiliary_head.deploy
    # the data preprocessor's role is not deployed
    assert not getattr(det.data_preprocessor, 'deploy', False)


def test_a_module_with_its_own_deploy_form_is_switched_anywhere():
    """deploy asks model_parts for the modules with a switch_to_deploy()
    of their own, outside the named parts too (a wrapped bare backbone)."""
    from mmhybrid.apis import TensorForward
    from mmhybrid.models import SHViT
    wrapped = TensorForward(SHViT('s1').eval(), output='tuple')
    assert model_parts(wrapped) == []
    own = model_parts(wrapped, whole=lambda m: hasattr(m, 'switch_to_deploy'))
    assert [(p.role, p.name) for p in own] == [('module', 'model')]
    assert switch_to_deploy(wrapped) == ['SHViT']
    assert wrapped.model.deploy
