"""tools/model_converters/ga_cswin_to_mmhybrid.py: an upstream GA-CSWin
classifier checkpoint becomes an MMPretrain classifier whose five branch
logits equal the upstream model's."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import torch

from reference import (assert_close_to_ref, deterministic_state_dict,
                       manifest, reference_input, reference_outputs)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'model_converters', 'ga_cswin_to_mmhybrid.py')
CONFIG = osp.join(ROOT, 'configs', 'imagenet_ga_cswin_t.py')


def _convert(src, dst, *extra):
    # the tool imports this tree's mmhybrid, whatever copy is installed
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in os.environ.get('PYTHONPATH', '').split(
            os.pathsep) if p]))
    return subprocess.run([sys.executable, TOOL, str(src), str(dst), *extra],
                          capture_output=True, text=True, cwd=ROOT, env=env)


def test_converted_classifier_branch_logits_equal_upstream(tmp_path):
    from mmpretrain.apis import init_model
    src = tmp_path / 'ga_cswin_t.pth'
    torch.save({'state_dict_ema': deterministic_state_dict(
        manifest('ga_cswin_t'))}, src)
    dst = tmp_path / 'dst.pth'
    result = _convert(src, dst)
    assert result.returncode == 0, result.stderr
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
    assert _convert(src, dst).returncode == 0
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
    result = _convert(src, dst)
    assert result.returncode != 0 and '--force' in result.stderr
    assert dst.read_bytes() == b'precious'
    result = _convert(src, dst, '--force')
    assert result.returncode == 0, result.stderr
    assert 'head.gram_embedding.0.0.weight' in torch.load(
        dst, map_location='cpu')['state_dict']

    result = _convert(tmp_path / 'missing.pth', tmp_path / 'x.pth')
    assert result.returncode != 0 and 'missing.pth' in result.stderr
    assert not (tmp_path / 'x.pth').exists()

    # a plain CSWin ImageNet classifier is not a GA checkpoint
    torch.save({'state_dict_ema': {
        k: torch.from_numpy(np.zeros(s, dtype=np.float32))
        for k, s in manifest('cswin_t_imagenet').items()}}, src)
    result = _convert(src, tmp_path / 'y.pth')
    assert result.returncode != 0 and 'GA-CSWin' in result.stderr
    assert not (tmp_path / 'y.pth').exists()

    torch.save({'model': {'foo.weight': torch.zeros(2)}}, src)
    result = _convert(src, tmp_path / 'z.pth')
    assert result.returncode != 0 and 'GA-CSWin' in result.stderr
