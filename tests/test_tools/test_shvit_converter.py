"""SHViT's classifier converter (its model file, through
:func:`mmhybrid.apis.convert_checkpoint`, the library of
tools/model_converters/convert.py): official and timm checkpoints become
MMPretrain classifiers whose logits equal the upstream model's."""
import os.path as osp

import pytest
import torch

from reference import (assert_close_to_ref, deterministic_state_dict,
                       manifest, official_to_timm_shvit, reference_input,
                       reference_outputs)

from mmhybrid.apis import convert_checkpoint

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _convert(src, dst, family='auto', force=False):
    return convert_checkpoint(str(src), str(dst), family, force=force)


@pytest.mark.parametrize('arch', ['s1', 's2', 's3', 's4'])
@pytest.mark.parametrize('layout', ['official', 'timm'])
def test_converted_classifier_logits_equal_upstream(arch, layout, tmp_path):
    from mmpretrain.apis import init_model
    state_dict = deterministic_state_dict(manifest(f'shvit_{arch}'))
    if layout == 'timm':
        state_dict = {official_to_timm_shvit(k): v
                      for k, v in state_dict.items()}
    src = tmp_path / 'src.pth'
    torch.save({'model': state_dict} if layout == 'official' else state_dict,
               src)
    dst = tmp_path / 'dst.pth'
    result = _convert(src, dst)
    assert (result['family'], result['layout']) == ('SHViT', layout)
    model = init_model(osp.join(ROOT, f'configs/imagenet_shvit_{arch}.py'),
                       str(dst), device='cpu')
    # init_model loads non-strictly: prove every key came from the file
    converted = torch.load(dst, map_location='cpu')['state_dict']
    own = model.state_dict()
    missing = [k for k in own if k not in converted
               and not k.endswith('num_batches_tracked')]
    assert not missing, missing
    ref = reference_outputs(f'shvit_{arch}')
    x = reference_input((2, 3, ref['res'], ref['res']), ref['input_seed'])
    with torch.no_grad():
        logits = model(x, mode='tensor')
        err = assert_close_to_ref(logits, ref['logits'], f'{arch} logits')
        model.backbone.switch_to_deploy()
        model.head.switch_to_deploy()
        err_deploy = assert_close_to_ref(model(x, mode='tensor'),
                                         ref['logits'], f'{arch} deploy')
    print(f'{layout} {arch}: logits rel err {err:.2e}, deploy '
          f'{err_deploy:.2e}')


def test_converter_refuses_to_overwrite_and_bad_input(tmp_path):
    src = tmp_path / 'src.pth'
    torch.save({'model': deterministic_state_dict(manifest('shvit_s1'))}, src)
    dst = tmp_path / 'dst.pth'
    dst.write_bytes(b'precious')
    with pytest.raises(FileExistsError, match='--force'):
        _convert(src, dst)
    assert dst.read_bytes() == b'precious'
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        _convert(tmp_path / 'missing.pth', tmp_path / 'x.pth')
    torch.save({'model': {'foo.weight': torch.zeros(2)}}, src)
    with pytest.raises(ValueError, match='SHViT: patch_embed'):
        _convert(src, tmp_path / 'y.pth', family='shvit')
    assert not (tmp_path / 'y.pth').exists()
    # ours already: nothing to convert
    torch.save({'model': deterministic_state_dict(manifest('shvit_s1'))}, src)
    ours = tmp_path / 'ours.pth'
    _convert(src, ours)
    with pytest.raises(ValueError, match='already in mmhybrid'):
        _convert(ours, tmp_path / 'z.pth')
