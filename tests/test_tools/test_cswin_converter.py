"""The GA family's GA-CSWin classifier converter (its model file,
mmhybrid/models/heads/ga_head.py, through
:func:`mmhybrid.apis.convert_checkpoint`, the library of
tools/model_converters/convert.py): an upstream GA-CSWin classifier
checkpoint becomes an MMPretrain classifier whose five branch logits equal
the upstream model's."""
import os.path as osp

import numpy as np
import pytest
import torch

from reference import (assert_close_to_ref, deterministic_state_dict,
                       manifest, reference_input, reference_outputs)

from mmhybrid.apis import convert_checkpoint

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'imagenet_ga_cswin_t.py')


def _convert(src, dst, family='auto', force=False):
    return convert_checkpoint(str(src), str(dst), family, force=force)


def test_converted_classifier_branch_logits_equal_upstream(tmp_path):
    from mmpretrain.apis import init_model
    src = tmp_path / 'ga_cswin_t.pth'
    torch.save({'state_dict_ema': deterministic_state_dict(
        manifest('ga_cswin_t'))}, src)
    dst = tmp_path / 'dst.pth'
    result = _convert(src, dst)
    assert (result['family'], result['layout']) == ('GA-CSWin', 'upstream')
    model = init_model(CONFIG, str(dst), device='cpu')
    # init_model loads non-strictly: prove every key came from the file
    converted = torch.load(dst, map_location='cpu')['state_dict']
    own = model.state_dict()
    missing = [k for k in own if k not in converted
               and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in converted if k not in own]
    assert not missing and not unexpected, (missing, unexpected)

    ref = reference_outputs('ga_cswin_t')
    x = reference_input((2, 3, ref['res'], ref['res']), ref['input_seed'])
    with torch.no_grad():
        branches = model.head.forward_branches(model.extract_feat(x))
        logits = model(x, mode='tensor')
    assert len(branches) == 5
    errors = [assert_close_to_ref(b, ref[f'logits{i}'], f'branch {i}')
              for i, b in enumerate(branches)]
    # inference logits: the sum of the five branches
    total = sum(ref[f'logits{i}'] for i in range(5))
    err_sum = assert_close_to_ref(logits, total, 'summed logits')
    print('GA-CSWin-T branch max rel err: ' +
          ', '.join(f'{e:.1e}' for e in errors) + f'; sum {err_sum:.1e}')


def test_converted_checkpoint_serves_the_dense_backbone(tmp_path):
    """Both the upstream GA file and the converted one initialise the CSWin
    backbone of detection/segmentation configs (norm1..norm4 stay fresh)."""
    from mmhybrid.models import CSWin
    state_dict = deterministic_state_dict(manifest('ga_cswin_t'))
    src = tmp_path / 'ga.pth'
    torch.save({'model': state_dict}, src)
    dst = tmp_path / 'dst.pth'
    _convert(src, dst)
    for path in (src, dst):
        backbone = CSWin('t', init_cfg=dict(type='Pretrained',
                                            checkpoint=str(path)))
        backbone.init_weights()
        for key in ('stage1_conv_embed.0.weight', 'stage3.20.mlp.fc2.bias',
                    'merge3.norm.weight', 'stage4.0.qkv.weight'):
            assert torch.equal(backbone.state_dict()[key], state_dict[key])


def test_converter_refuses_to_overwrite_and_bad_input(tmp_path):
    src = tmp_path / 'src.pth'
    torch.save({'model': deterministic_state_dict(manifest('ga_cswin_t'))},
               src)
    dst = tmp_path / 'dst.pth'
    dst.write_bytes(b'precious')
    with pytest.raises(FileExistsError, match='--force'):
        _convert(src, dst)
    assert dst.read_bytes() == b'precious'
    _convert(src, dst, force=True)
    assert 'head.gram_embedding.0.0.weight' in torch.load(
        dst, map_location='cpu')['state_dict']

    with pytest.raises(FileNotFoundError, match='missing.pth'):
        _convert(tmp_path / 'missing.pth', tmp_path / 'x.pth')
    assert not (tmp_path / 'x.pth').exists()

    # a plain CSWin ImageNet classifier is not a GA checkpoint
    torch.save({'state_dict_ema': {
        k: torch.from_numpy(np.zeros(s, dtype=np.float32))
        for k, s in manifest('cswin_t_imagenet').items()}}, src)
    with pytest.raises(ValueError, match='GA-CSWin: gram_embedding'):
        _convert(src, tmp_path / 'y.pth', family='ga-cswin')
    assert not (tmp_path / 'y.pth').exists()
    # GA head weights without the CSWin backbone
    head_only = {k: v for k, v in deterministic_state_dict(
        manifest('ga_cswin_t')).items() if k.startswith('gram_')}
    torch.save(head_only, src)
    with pytest.raises(ValueError, match='stage1_conv_embed'):
        _convert(src, tmp_path / 'y.pth', family='ga-cswin')

    torch.save({'model': {'foo.weight': torch.zeros(2)}}, src)
    with pytest.raises(ValueError, match='any known family.*GA-CSWin'):
        _convert(src, tmp_path / 'z.pth')
    assert not (tmp_path / 'z.pth').exists()
