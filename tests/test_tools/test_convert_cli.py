"""tools/model_converters/convert.py: one command line over the families'
own classifier converters, found through the registry."""
import os
import os.path as osp
import subprocess
import sys
from collections import OrderedDict

import pytest
import torch
from mmengine.registry import Registry

from mmhybrid.apis import checkpoint_families, convert_classifier_state_dict
from mmhybrid.models.utils import ClassifierConverter, classifier_converters
from reference import deterministic_state_dict, manifest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'model_converters', 'convert.py')


def test_converters_are_declared_by_their_families():
    from mmhybrid.models import GAHead, SHViT
    found = classifier_converters()
    assert set(checkpoint_families()) == set(found)
    owners = {name: [cls for cls in (SHViT, GAHead)
                     if conv in cls.classifier_converters]
              for name, conv in found.items()}
    assert owners == {'shvit': [SHViT], 'ga-cswin': [GAHead],
                      'ga-convnext': [GAHead]}
    # each converter sits in the model file of its family
    for conv in found.values():
        assert conv.convert.__module__ in (SHViT.__module__,
                                           GAHead.__module__)


def test_a_new_family_is_found_without_a_table():
    """A class in the registry that declares a converter is all it takes."""
    registry = Registry('model', scope='converter_test')
    toy = ClassifierConverter(
        'Toy', lambda sd: 'upstream' if 'toy.w' in sd else None,
        lambda sd: {'backbone.w': sd['toy.w']}, expects='toy.* keys')

    @registry.register_module()
    class ToyBackbone:
        classifier_converters = (toy, )

    assert classifier_converters(registry) == OrderedDict(toy=toy)
    assert toy({'toy.w': 1}) == {'backbone.w': 1}
    assert toy({'other': 1}) is None


@pytest.mark.parametrize('name, family, layout', [
    ('shvit_s1', 'SHViT', 'official'), ('ga_cswin_t', 'GA-CSWin', 'upstream'),
    ('ga_convnext_t', 'GA-ConvNeXt', 'upstream')])
def test_auto_picks_the_family(name, family, layout):
    state_dict = {k: torch.empty(s) for k, s in manifest(name).items()}
    converted, conv, found = convert_classifier_state_dict(state_dict)
    assert (conv.family, found) == (family, layout)
    assert all(k.startswith(('backbone.', 'head.')) for k in converted)
    with pytest.raises(ValueError, match='already in mmhybrid'):
        convert_classifier_state_dict(converted)
    with pytest.raises(ValueError, match='no checkpoint converter for '
                       "family 'resnet'"):
        convert_classifier_state_dict(state_dict, 'resnet')


def _run(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in os.environ.get('PYTHONPATH', '').split(
            os.pathsep) if p]))
    return subprocess.run([sys.executable, TOOL, *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=300)


def test_cli(tmp_path):
    state_dict = deterministic_state_dict(manifest('shvit_s1'))
    src, dst = tmp_path / 'shvit_s1.pth', tmp_path / 'out.pth'
    torch.save({'model': state_dict}, src)
    r = _run(src, dst)
    assert r.returncode == 0, r.stderr
    assert '(SHViT, official layout)' in r.stdout
    out = torch.load(dst, map_location='cpu')
    assert out['meta']['family'] == 'SHViT'
    assert torch.equal(out['state_dict']['backbone.patch_embed.0.c.weight'],
                       state_dict['patch_embed.0.c.weight'])
    # a user's mistake: one line naming it, exit code 1, no traceback
    r = _run(src, tmp_path / 'x.pth', '--family', 'ga-convnext')
    assert r.returncode == 1 and 'GA-ConvNeXt: stem' in r.stderr
    assert 'Traceback' not in r.stderr
    r = _run(src, tmp_path / 'x.pth', '--family', 'nope')
    assert r.returncode == 2 and 'shvit' in r.stderr  # argparse choices
