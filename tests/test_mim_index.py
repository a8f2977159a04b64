"""What ``mim search mmhybrid`` / ``mim list`` read, checked without
openmim: ``mmhybrid/.mim/model-index.yml`` in a wheel, importing every
metafile; and the index listing that works with any install
(``mmhybrid.apis.search_models``, ``tools/misc/model_index.py``).

mim 0.3.9 looks for ``<site-packages>/mmhybrid/.mim/model-index.yml``,
which the editable install of ``make install`` (PEP 660) does not create;
the README says so and names what works."""
import glob
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

import pytest
import yaml
from modelindex.load_model_index import load

from mmhybrid.apis import search_models

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
METAFILES = sorted(glob.glob(osp.join(ROOT, 'configs', 'metafiles',
                                      '*.yml')))


def _index_count(path):
    index = load(path)
    index.build_models_with_collections()
    return index.models


def test_index_imports_every_metafile():
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        imports = yaml.safe_load(f)['Import']
    assert METAFILES
    assert sorted(osp.join(ROOT, p) for p in imports) == METAFILES


def test_search_models_lists_the_whole_index():
    models = _index_count(osp.join(ROOT, 'model-index.yml'))
    rows = search_models()
    assert [r['name'] for r in rows] == [m.name for m in models]
    for row in rows:
        assert osp.isfile(osp.join(ROOT, row['config'])), row
    shvit = search_models('shvit*')
    assert {r['name'] for r in shvit} == {
        m.name for m in models if m.name.startswith('shvit')}
    # every weights URL the metafiles hold is listed, and only those
    assert {r['name']: r['weights'] for r in rows if r['weights']} == {
        m.name: m.weights for m in models if m.weights}
    det = [r for r in search_models('maskrcnn_shvit') if r['results']]
    assert det and any('box AP' in x for x in det[0]['results'])
    assert search_models('no-such-model') == []


def test_model_index_tool():
    r = subprocess.run([sys.executable, 'tools/misc/model_index.py',
                        'shvit', '--weights'], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    urls = [r_['weights'] for r_ in search_models('shvit') if r_['weights']]
    assert urls and all(f'  weights: {u}' in r.stdout for u in urls)
    assert f'{len(urls)} entries' in r.stdout
    r = subprocess.run([sys.executable, 'tools/misc/model_index.py',
                        'no-such-model'], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode != 0 and 'no-such-model' in r.stderr


@pytest.mark.slow
def test_wheel_ships_the_index_where_mim_looks(tmp_path):
    """A wheel (``pip install .``) holds ``mmhybrid/.mim/model-index.yml``,
    every metafile it imports and every config they name: mim's
    ``load_metadata_from_local`` reads the whole index from it."""
    src = tmp_path / 'src'
    src.mkdir()
    for name in ('setup.py', 'MANIFEST.in', 'README.md', 'model-index.yml'):
        shutil.copy2(osp.join(ROOT, name), src)
    for name in ('mmhybrid', 'configs', 'tools'):
        shutil.copytree(osp.join(ROOT, name), src / name, symlinks=True,
                        ignore=shutil.ignore_patterns('__pycache__', '.mim'))
    r = subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '--no-deps',
         '--no-build-isolation', '-q', '-w', str(tmp_path / 'wheel'),
         str(src)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    wheel, = glob.glob(str(tmp_path / 'wheel' / 'mmhybrid-*.whl'))
    site = tmp_path / 'site'
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    mim_index = site / 'mmhybrid' / '.mim' / 'model-index.yml'
    assert mim_index.is_file()
    models = _index_count(str(mim_index))
    assert [m.name for m in models] == [r['name'] for r in search_models()]
    for m in models:
        assert osp.isfile(site / 'mmhybrid' / '.mim' / m.config), m.config
