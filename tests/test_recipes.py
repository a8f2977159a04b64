"""Recipe cards: every config that quotes an upstream number trains and tests
as upstream did, item by item, and each item names its upstream line.

A card is the ``Recipe`` entry of a model in its family's metafile
(``configs/metafiles/<family>.yml``)::

    Recipe:
      Upstream: ysj9909/SHViT@6a729cc     # repository@commit the lines cite
      Status: faithful                    # or 'differs: <what, one line>'
      Items:
        - Item: peak lr (1e-3 x 2048 / 512)
          Config: optim_wrapper.optimizer.lr     # a path in the resolved config
          Equals: 0.004
          Source: main.py:88
        - Item: head stage-5 drop path
          Model: head.stage5.drop_path.drop_prob  # a path in the built model
          Equals: 0.2
          Source: GA/ga_cswin.py:538

Paths: ``a.b`` (key or attribute), ``a[2]`` (item), ``a[*]`` (every item,
a list comes back), ``a[type=X]`` (the one item whose ``type`` is X).
``Equals`` compares numbers with a relative tolerance of 1e-6, lists and
dicts item by item. A path that does not resolve fails the item.
"""
import math
import os.path as osp
import re
import subprocess
import sys

import pytest

from mmhybrid.apis import build_model, load_config
from mmhybrid.engine.model_index import _metafiles

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
STATUS = re.compile(r'^(faithful|differs: .+)$')
SOURCE = re.compile(r'\S+:\d+(-\d+)?')


MODELS = [m for meta in _metafiles() for m in meta.get('Models') or []]
CARDS = [(m['Name'], m['Config'], m['Recipe']) for m in MODELS
         if 'Recipe' in m]
ITEMS = [pytest.param(config, item, id=f"{name}: {item['Item']}")
         for name, config, card in CARDS for item in card['Items']]

_TOKEN = re.compile(r'([^.\[\]]+)|\[([^\]]+)\]')


def resolve(obj, path):
    """The value at ``path`` in ``obj`` (a config, a module; grammar in the
    module docstring). Raises KeyError naming the part that is missing."""
    values, many = [obj], False
    for name, index in _TOKEN.findall(path):
        out = []
        for value in values:
            if name:
                if isinstance(value, dict) and name in value:
                    out.append(value[name])
                elif not isinstance(value, dict) and hasattr(value, name):
                    out.append(getattr(value, name))
                else:
                    raise KeyError(f'{path}: no {name!r} in {value!r:.200}')
            elif index == '*':
                out.extend(list(value))
                many = True
            elif '=' in index:
                key, want = index.split('=', 1)
                hits = [v for v in value if _get(v, key) == want]
                if len(hits) != 1:
                    raise KeyError(f'{path}: {len(hits)} items with '
                                   f'{key}={want}')
                out.extend(hits)
            else:
                out.append(value[int(index)])
        values = out
    return values if many else values[0]


def _get(value, key):
    return value.get(key) if isinstance(value, dict) else getattr(
        value, key, None)


def same(got, want):
    if isinstance(want, bool) or want is None or isinstance(want, str):
        return got == want
    if isinstance(want, (int, float)):
        return isinstance(got, (int, float)) and not isinstance(
            got, bool) and math.isclose(got, want, rel_tol=1e-6,
                                        abs_tol=1e-12)
    if isinstance(want, (list, tuple)):
        return isinstance(got, (list, tuple)) and len(got) == len(want) and \
            all(same(g, w) for g, w in zip(got, want))
    if isinstance(want, dict):
        return isinstance(got, dict) and set(got) == set(want) and all(
            same(got[k], w) for k, w in want.items())
    return got == want


_configs, _models = {}, {}


def _config(path):
    if path not in _configs:
        _configs[path] = load_config(osp.join(ROOT, path))
    return _configs[path]


def _model(path):
    if path not in _models:
        _models[path] = build_model(_config(path))
    return _models[path]


def test_every_quoted_number_has_a_card():
    """A config that quotes an upstream result carries a card with its
    status, upstream repository and at least one item."""
    missing = [m['Name'] for m in MODELS
               if m.get('Results') and 'Recipe' not in m]
    assert not missing, f'results without a recipe card: {missing}'
    for name, config, card in CARDS:
        assert STATUS.match(str(card.get('Status', ''))), (name, card)
        assert re.match(r'^[\w.-]+/[\w.-]+@\w+', card.get('Upstream', '')), \
            (name, card.get('Upstream'))
        assert card.get('Items'), name
        for item in card['Items']:
            assert set(item) in ({'Item', 'Config', 'Equals', 'Source'},
                                 {'Item', 'Model', 'Equals', 'Source'}), \
                (name, item)
            assert SOURCE.search(item['Source']), \
                (name, item, 'Source names no file:line')


@pytest.mark.parametrize('config,item', ITEMS)
def test_recipe_item(config, item):
    if 'Config' in item:
        where, path = _config(config), item['Config']
    else:
        where, path = _model(config), item['Model']
    try:
        got = resolve(where, path)
    except (KeyError, IndexError, TypeError) as e:
        pytest.fail(f"{config}: {item['Item']}: {path} is not there ({e}); "
                    f"upstream {item['Equals']!r} ({item['Source']})")
    assert same(got, item['Equals']), (
        f"{config}: {item['Item']} is {got!r}, upstream "
        f"{item['Equals']!r} ({item['Source']})")


def test_resolve_grammar():
    cfg = dict(a=[dict(type='X', v=1), dict(type='Y', v=2)], b=dict(c=3))
    assert resolve(cfg, 'b.c') == 3
    assert resolve(cfg, 'a[1].v') == 2
    assert resolve(cfg, 'a[*].type') == ['X', 'Y']
    assert resolve(cfg, 'a[type=Y].v') == 2
    with pytest.raises(KeyError, match='no'):
        resolve(cfg, 'b.d')
    with pytest.raises(KeyError, match='0 items'):
        resolve(cfg, 'a[type=Z]')
    assert same([1.0, 'a'], [1, 'a']) and not same(1e-3, 1.1e-3)
    assert not same(True, 1) and not same([1], [1, 2])


def test_readme_recipes_table():
    """The README's "Recipes" table is the cards' (one row per card, with
    its status), as tools/analysis_tools/model_table.py --recipes writes."""
    r = subprocess.run(
        [sys.executable, 'tools/analysis_tools/model_table.py', '--recipes'],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    table = r.stdout.strip()
    assert table.count('\n') == len(CARDS) + 1
    for _, config, card in CARDS:
        assert f'| `{config}` |' in table and card['Status'] in table
    readme = open(osp.join(ROOT, 'README.md'), encoding='utf-8').read()
    assert f'<!-- RECIPES START -->\n{table}\n<!-- RECIPES END -->' in \
        readme, 'README Recipes table is stale: run ' \
        'tools/analysis_tools/model_table.py --recipes --update-readme'
