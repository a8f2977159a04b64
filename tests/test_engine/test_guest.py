"""A good guest: importing mmhybrid registers its components and changes
nothing else in torch, mmengine, mmcv, mmdet, mmseg or mmpretrain.

A fresh interpreter first learns which modules of those packages importing
mmhybrid loads; a second one imports exactly those modules, records every
module attribute and every class ``__dict__`` entry (by identity), torch's
process-wide safe globals and ``sys.meta_path``, then imports mmhybrid and
compares. Any replaced, added or removed attribute fails the test, named.
"""
import json
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PACKAGES = ('torch', 'torchvision', 'mmengine', 'mmcv', 'mmdet', 'mmseg',
            'mmpretrain', 'numpy')

LOADED = r'''
import json, sys
import {target}
print(json.dumps([m for m in list(sys.modules)
                  if m.split('.')[0] in {packages!r}]))
'''

COMPARE = r'''
import importlib, json, sys, warnings
warnings.filterwarnings('ignore')
modules = json.loads(sys.argv[1])
for name in modules:
    try:
        importlib.import_module(name)
    except Exception:
        pass


def snapshot():
    import torch
    owners = {}
    for name in modules:
        module = sys.modules.get(name)
        if module is None:
            continue
        owners[name] = {k: id(v) for k, v in list(vars(module).items())}
        for key, value in list(vars(module).items()):
            if isinstance(value, type) and value.__module__ == name:
                owners[f'{name}.{key}'] = {
                    k: id(v) for k, v in list(vars(value).items())}
    owners['sys'] = dict(meta_path=[id(f) for f in sys.meta_path])
    owners['torch.serialization'] = dict(get_safe_globals=sorted(
        repr(g) for g in torch.serialization.get_safe_globals()))
    return owners


before = snapshot()
import {target}  # noqa
after = snapshot()
changed, added, removed = [], [], []
for owner, attrs in before.items():
    now = after.get(owner, {})
    changed += [f'{owner}.{k}' for k in attrs if k in now and now[k] != attrs[k]]
    removed += [f'{owner}.{k}' for k in attrs if k not in now]
    added += [f'{owner}.{k}' for k in now if k not in attrs]
print(json.dumps(dict(changed=sorted(changed), added=sorted(added),
                      removed=sorted(removed))))
'''


def _run(code, *args):
    r = subprocess.run([sys.executable, '-c', code, *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _changes(target):
    loaded = _run(LOADED.format(target=target, packages=PACKAGES))
    return _run(COMPARE.replace('{target}', target), json.dumps(loaded))


def test_import_mmhybrid_models_changes_nothing_else():
    diff = _changes('mmhybrid.models')
    # added: only class-dict entries of registries' own bookkeeping would
    # show here; a new attribute on a framework module or class is a patch
    assert diff == dict(changed=[], added=[], removed=[]), diff


def test_import_mmhybrid_apis_changes_nothing_else():
    """The tools' front door too (it also imports the inferencers)."""
    diff = _changes('mmhybrid.apis')
    assert diff == dict(changed=[], added=[], removed=[]), diff


def test_import_mmhybrid_analysis_changes_nothing_else():
    """The analysis tools' library (timing, tables, logs, demo runner)."""
    diff = _changes('mmhybrid.analysis')
    assert diff == dict(changed=[], added=[], removed=[]), diff


def test_import_mmhybrid_deploy_changes_nothing_else():
    """The deploy package: its mmdeploy rewriters are registered only while
    an export runs (tests/test_deploy/test_export_rewriters.py)."""
    diff = _changes('mmhybrid.deploy')
    assert diff == dict(changed=[], added=[], removed=[]), diff
