"""``init_cfg=dict(type='CheckedPretrained', ...)``: a pretrained file for
an MMPretrain or mmdet (torchvision) backbone that does not fit is refused,
naming the file and the prefix, instead of leaving the backbone random with
a warning (mmengine's ``Pretrained``); one that fits loads exactly. The
overrides documented in the configs' comments are run as written."""
import re

import pytest
import torch

import mmhybrid.models  # noqa: F401  (registers CheckedPretrained)
from mmhybrid.apis import load_config
from mmhybrid.models.utils import CheckpointMismatchError

HAM = 'configs/maskrcnn_ham_r50_coco.py'
GA = 'configs/maskrcnn_ga_convnext_t_coco.py'


def _documented_override(config, checkpoint):
    """The ``--cfg-options`` of the config's comment, as a dict, with the
    checkpoint pointed at ``checkpoint``."""
    with open(config) as f:
        comment = ''.join(line[1:] for line in f if line.startswith('#'))
    text = comment.split('--cfg-options', 1)[1].split('\n(')[0]
    text = text.split('\n_')[0].replace('\\\n', ' ')
    pairs = re.findall(r"'?(model\.[\w.]+)=([^\s']+)'?", text)
    assert pairs, text
    from mmengine.config import DictAction
    out = {}
    for key, value in pairs:
        out[key] = DictAction._parse_iterable(value)
    assert out['model.backbone.init_cfg.type'] == 'CheckedPretrained'
    out['model.backbone.init_cfg.checkpoint'] = str(checkpoint)
    return out


def _backbone(config, options):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = load_config(config, options)
    return MODELS.build(cfg.model.backbone)


def _torchvision_resnet50(path):
    """A checkpoint in torchvision's ResNet-50 layout (mmdet's ResNet uses
    the same names) with its fc classifier, as torchvision://resnet50."""
    from mmdet.models.backbones import ResNet
    torch.manual_seed(1)
    sd = ResNet(depth=50).state_dict()
    for v in sd.values():
        if v.is_floating_point():
            v.normal_()
    sd['fc.weight'] = torch.zeros(1000, 2048)
    sd['fc.bias'] = torch.zeros(1000)
    torch.save(sd, path)
    return sd


def test_ham_override_loads_torchvision_weights(tmp_path):
    ckpt = tmp_path / 'resnet50.pth'
    sd = _torchvision_resnet50(ckpt)
    backbone = _backbone(HAM, _documented_override(HAM, ckpt))
    backbone.init_weights()
    own = backbone.state_dict()
    ham = [k for k in own if k not in sd]
    assert ham and all('ham' in k for k in ham), ham
    for k, v in sd.items():
        if k in own:
            assert torch.equal(own[k], v), k


def _frozen(backbone):
    """Parameters that do not train and BatchNorms left in eval mode by
    ``train()``."""
    backbone.train()
    fixed = [n for n, p in backbone.named_parameters() if not p.requires_grad]
    bn_eval = [n for n, m in backbone.named_modules()
               if isinstance(m, torch.nn.BatchNorm2d) and not m.training]
    return fixed, bn_eval


def test_ham_default_trains_the_whole_random_backbone():
    """Random by default, so nothing is frozen at its initialisation: every
    parameter trains and every BatchNorm updates its statistics."""
    backbone = _backbone(HAM, None)
    fixed, bn_eval = _frozen(backbone)
    assert not fixed and not bn_eval, (fixed[:3], bn_eval[:3])


def test_ham_override_freezes_as_mmdet_for_pretrained_weights(tmp_path):
    """The documented override (torchvision weights) restores mmdet's frozen
    stem + stage 1 and frozen BatchNorm statistics."""
    options = _documented_override(HAM, tmp_path / 'resnet50.pth')
    assert options['model.backbone.frozen_stages'] == 1
    assert options['model.backbone.norm_eval'] is True
    backbone = _backbone(HAM, options)
    fixed, bn_eval = _frozen(backbone)
    assert fixed and all(n.startswith(('conv1', 'bn1', 'layer1.'))
                         for n in fixed), fixed
    assert len(bn_eval) == sum(
        isinstance(m, torch.nn.BatchNorm2d) for m in backbone.modules())


def test_ham_override_refuses_a_checkpoint_that_does_not_fit(tmp_path):
    ckpt = tmp_path / 'detector.pth'
    sd = _torchvision_resnet50(tmp_path / 'r50.pth')
    # a whole-detector file: the backbone keys sit under 'backbone.'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in sd.items()}},
               ckpt)
    backbone = _backbone(HAM, _documented_override(HAM, ckpt))
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    with pytest.raises(CheckpointMismatchError) as e:
        backbone.init_weights()
    text = str(e.value)
    assert str(ckpt) in text and 'has no tensor that ResNet expects' in text
    assert 'conv1.weight' in text and 'backbone.conv1.weight' in text
    assert "init_cfg.prefix='backbone.' would match" in text
    for k, v in backbone.state_dict().items():
        assert torch.equal(v, before[k]), k  # nothing was loaded


def _converted_ga_convnext(path):
    from reference import deterministic_state_dict, manifest

    from mmhybrid.models.heads.ga_head import ga_convnext_to_mmpretrain
    converted = ga_convnext_to_mmpretrain(
        deterministic_state_dict(manifest('ga_convnext_t')))
    torch.save({'state_dict': converted, 'meta': {}}, path)
    return converted


def test_ga_convnext_override_loads_the_converted_classifier(tmp_path):
    ckpt = tmp_path / 'ga_convnext_t.pth'
    converted = _converted_ga_convnext(ckpt)
    backbone = _backbone(GA, _documented_override(GA, ckpt))
    backbone.init_weights()
    own = backbone.state_dict()
    loaded = 0
    for k, v in converted.items():
        if k.startswith('backbone.backbone.'):
            assert torch.equal(own[k[len('backbone.backbone.'):]], v), k
            loaded += 1
    assert loaded > 100
    fresh = [k for k in own if f'backbone.backbone.{k}' not in converted]
    assert fresh and all(k.startswith('norm') for k in fresh), fresh


def test_ga_convnext_override_refuses_a_wrong_prefix(tmp_path):
    ckpt = tmp_path / 'ga_convnext_t.pth'
    _converted_ga_convnext(ckpt)
    options = _documented_override(GA, ckpt)
    options['model.backbone.init_cfg.prefix'] = 'backbone.'
    backbone = _backbone(GA, options)
    with pytest.raises(CheckpointMismatchError) as e:
        backbone.init_weights()
    text = str(e.value)
    assert str(ckpt) in text and "prefix 'backbone.'" in text
    assert 'downsample_layers.0.0.weight' in text  # an expected key
    assert 'backbone.backbone.' in text  # what the file has


def test_allowed_missing_cannot_hide_a_mostly_absent_checkpoint(tmp_path):
    from mmhybrid.models.utils.init import CheckedPretrainedInit
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2),
                              torch.nn.Linear(2, 2))
    sd = {k: v for k, v in net.state_dict().items() if k.startswith('0.')}
    torch.save(sd, tmp_path / 'few.pth')
    init = CheckedPretrainedInit(str(tmp_path / 'few.pth'),
                                 allowed_missing=['1.*', '2.*'])
    with pytest.raises(CheckpointMismatchError, match='fills only 2 of'):
        init(net)
