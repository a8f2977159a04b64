"""The GA family's GA-ConvNeXt classifier converter (in
mmhybrid/models/heads/ga_head.py, through
:func:`mmhybrid.apis.convert_checkpoint`, the library of
tools/model_converters/convert.py): an official GA-ConvNeXt
classifier checkpoint becomes an MMPretrain classifier (MMPretrain's ConvNeXt
in ``BlockTaps`` + ``GAHead``) whose five branch logits equal the official
model's; unlike the official code (fixed 14x14 pooling) it runs at any
size."""
import os.path as osp

import pytest
import torch

from reference import (assert_close_to_ref, deterministic_state_dict,
                       manifest, reference_input, reference_outputs)

from mmhybrid.apis import convert_checkpoint

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'imagenet_ga_convnext_t.py')


def _convert(src, dst, family='auto', force=False):
    return convert_checkpoint(str(src), str(dst), family, force=force)


def _official_params():
    """Parameters of the official model: its state dict less BN buffers."""
    layout = manifest('ga_convnext_t')
    return sum(torch.Size(s).numel() for k, s in layout.items()
               if not k.endswith(('running_mean', 'running_var',
                                  'num_batches_tracked')))


def test_converted_classifier_equals_official_and_runs_at_any_size(tmp_path):
    from mmpretrain.apis import init_model
    src = tmp_path / 'ga_convnext_t.pth'
    torch.save({'state_dict_ema': deterministic_state_dict(
        manifest('ga_convnext_t'))}, src)
    dst = tmp_path / 'dst.pth'
    result = _convert(src, dst)
    assert (result['family'], result['layout']) == ('GA-ConvNeXt',
                                                    'upstream')
    model = init_model(CONFIG, str(dst), device='cpu')
    # init_model loads non-strictly: prove every key came from the file
    converted = torch.load(dst, map_location='cpu')['state_dict']
    own = model.state_dict()
    missing = [k for k in own if k not in converted]
    unexpected = [k for k in converted if k not in own]
    assert not missing and not unexpected, (missing, unexpected)
    n = sum(p.numel() for p in model.parameters())
    assert n == _official_params(), (n, _official_params())

    ref = reference_outputs('ga_convnext_t')
    x = reference_input((2, 3, ref['res'], ref['res']), ref['input_seed'])
    with torch.no_grad():
        branches = model.head.forward_branches(model.extract_feat(x))
        logits = model(x, mode='tensor')
    assert len(branches) == 5
    errors = [assert_close_to_ref(b, ref[f'logits{i}'], f'branch {i}')
              for i, b in enumerate(branches)]
    total = sum(ref[f'logits{i}'] for i in range(5))
    err_sum = assert_close_to_ref(logits, total, 'summed logits')
    print(f'GA-ConvNeXt-T ({n / 1e6:.2f}M params) branch max rel err: ' +
          ', '.join(f'{e:.1e}' for e in errors) + f'; sum {err_sum:.1e}')

    # any size: the head follows the stride-16 grid of stage 3
    grids = []
    model.head.stage5.register_forward_hook(
        lambda m, i, o: grids.append(o[1]))
    for size, grid in (((256, 256), (16, 16)), ((233, 251), (14, 15))):
        x = torch.randn(1, 3, *size)
        with torch.no_grad():
            logits = model(x, mode='tensor')
            branches = model.head.forward_branches(model.extract_feat(x))
        assert logits.shape == (1, 1000) and torch.isfinite(logits).all()
        assert torch.allclose(logits, sum(branches), atol=1e-4)
        assert grids[-1] == grid


def test_block_taps_are_the_official_stage3_taps():
    """BlockTaps returns the raw stage outputs, then stage 3 after blocks 3
    and 6 (official: every depth // (taps + 1) blocks)."""
    from mmhybrid.apis import build_model
    model = build_model(CONFIG)
    convnext = model.backbone.backbone
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        outs = model.backbone(x)
        # nothing stays recorded on the modules after a forward
        assert not any('_block_taps_output' in m.__dict__
                       for m in convnext.modules())
        y, stages = x, []
        for i in range(4):
            y = convnext.stages[i](convnext.downsample_layers[i](y))
            stages.append(y)
        z = convnext.downsample_layers[2](stages[1])
        taps = []
        for j, block in enumerate(convnext.stages[2]):
            z = block(z)
            if j in (2, 5):
                taps.append(z)
    assert len(outs) == 6
    for a, b in zip(outs, stages + taps):
        assert torch.equal(a, b)
    assert all(o.is_contiguous() for o in outs)
    assert not any(n.startswith('norm') for n, _ in convnext.named_children())


def test_block_taps_survive_a_deep_copy():
    """EMA hooks deep-copy the model: the copy records its own outputs."""
    import copy

    from mmhybrid.models import BlockTaps
    taps = BlockTaps(
        dict(type='ConvNeXt',
             arch=dict(depths=[1, 1, 3, 1], channels=[8, 16, 32, 64]),
             out_indices=()),
        stages=[f'stages.{i}' for i in range(4)], taps=['stages.2.1'])
    twin = copy.deepcopy(taps)
    with torch.no_grad():
        for p in twin.parameters():
            p.add_(1.)
        x = torch.randn(1, 3, 64, 64)
        a, b = taps(x), twin(x)
    assert not torch.equal(a[-1], b[-1])
    assert torch.equal(a[-1], taps(x)[-1])


def test_converter_refuses_to_overwrite_and_bad_input(tmp_path):
    state_dict = deterministic_state_dict(manifest('ga_convnext_t'))
    src = tmp_path / 'src.pth'
    torch.save(state_dict, src)  # bare state dict
    dst = tmp_path / 'dst.pth'
    dst.write_bytes(b'precious')
    with pytest.raises(FileExistsError, match='--force'):
        _convert(src, dst)
    assert dst.read_bytes() == b'precious'
    _convert(src, dst, force=True)
    out = torch.load(dst, map_location='cpu')['state_dict']
    assert torch.equal(out['head.stage5.se.conv1.conv.weight'],
                       state_dict['stages.4.se.fc1.weight'])
    assert torch.equal(
        out['backbone.backbone.stages.2.8.pointwise_conv2.weight'],
        state_dict['stages.2.blocks.8.mlp.fc2.weight'])
    assert torch.equal(out['head.ga.3.mlp.fc1.weight'],
                       state_dict['ga.3.mlp.fc1.weight'])

    with pytest.raises(FileNotFoundError, match='missing.pth'):
        _convert(tmp_path / 'missing.pth', tmp_path / 'x.pth')
    assert not (tmp_path / 'x.pth').exists()

    # a GA-CSWin checkpoint is not a GA-ConvNeXt one
    torch.save({'model': deterministic_state_dict(manifest('ga_cswin_t'))},
               src)
    with pytest.raises(ValueError, match='GA-ConvNeXt: stem'):
        _convert(src, tmp_path / 'y.pth', family='ga-convnext')
    assert not (tmp_path / 'y.pth').exists()


def test_converted_checkpoint_serves_the_detection_backbone(tmp_path):
    """The Mask R-CNN config's head-free ConvNeXt loads the converted
    classifier with prefix 'backbone.backbone.' (as its comment says)."""
    from mmdet.registry import MODELS
    from mmengine.config import Config
    state_dict = deterministic_state_dict(manifest('ga_convnext_t'))
    src = tmp_path / 'ga.pth'
    torch.save({'model': state_dict}, src)
    dst = tmp_path / 'dst.pth'
    _convert(src, dst)
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'maskrcnn_ga_convnext_t_coco.py'))
    backbone_cfg = cfg.model.backbone.copy()  # 'mmpretrain.ConvNeXt'
    backbone_cfg.init_cfg = dict(type='Pretrained', checkpoint=str(dst),
                                 prefix='backbone.backbone.')
    backbone = MODELS.build(backbone_cfg)
    backbone.init_weights()
    own = backbone.state_dict()
    for ours, theirs in (('downsample_layers.0.0.weight', 'stem.0.weight'),
                         ('stages.2.8.depthwise_conv.weight',
                          'stages.2.blocks.8.conv_dw.weight'),
                         ('downsample_layers.3.1.weight',
                          'stages.3.downsample.1.weight')):
        assert torch.equal(own[ours], state_dict[theirs])
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        outs = backbone(x)
    assert [o.shape[1] for o in outs] == [96, 192, 384, 688]
