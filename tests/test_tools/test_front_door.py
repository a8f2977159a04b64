"""Tools are command lines over the library: a tool imports mmhybrid only
through its front-door packages, at package level, and no test loads a tool
file into its process (a test runs a tool as a subprocess, or imports the
library the tool calls)."""
import ast
import glob
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# what a tool may import from mmhybrid (package level only)
FRONT_DOORS = ('mmhybrid.apis', 'mmhybrid.analysis', 'mmhybrid.deploy',
               'mmhybrid.deploy.onnx', 'mmhybrid.deploy.coreml',
               'mmhybrid.visualization', 'mmhybrid.testing',
               'mmhybrid.engine')
# imported bare for its side effect: registering mmhybrid's components
REGISTRATION = 'mmhybrid.models'
# the calls that load a Python file by its path
LOADERS = ('spec_from_file_location', 'run_path', 'run_module',
           'SourceFileLoader', 'load_source')


def _is_mmhybrid(name):
    return name == 'mmhybrid' or name.startswith('mmhybrid.')


def _import_calls(tree):
    """``(line, module)`` of ``importlib.import_module('...')`` and
    ``__import__('...')`` calls with a constant module name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(
                node.args[0], ast.Constant) and isinstance(
                    node.args[0].value, str):
            func = node.func
            name = getattr(func, 'attr', None) or getattr(func, 'id', None)
            if name in ('import_module', '__import__'):
                yield node.lineno, node.args[0].value


def front_door_violations(source, filename='<tool>'):
    """``[(line, import)]``: each import of ``source`` that reaches into
    mmhybrid other than through :data:`FRONT_DOORS` (or a bare ``import
    mmhybrid.models``), and each relative import."""
    tree = ast.parse(source, filename)
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                ok = name in FRONT_DOORS or (name == REGISTRATION
                                             and alias.asname is None)
                if _is_mmhybrid(name) and not ok:
                    text = f'import {name}' + (
                        f' as {alias.asname}' if alias.asname else '')
                    bad.append((node.lineno, text))
        elif isinstance(node, ast.ImportFrom):
            names = ', '.join(a.name for a in node.names)
            module = node.module or ''
            text = f"from {'.' * node.level}{module} import {names}"
            if node.level:
                bad.append((node.lineno, text))
            elif module == 'mmhybrid':
                if any(f'mmhybrid.{a.name}' not in FRONT_DOORS
                       for a in node.names):
                    bad.append((node.lineno, text))
            elif _is_mmhybrid(module) and module not in FRONT_DOORS:
                bad.append((node.lineno, text))
    for line, name in _import_calls(tree):
        if _is_mmhybrid(name) and name not in FRONT_DOORS:
            bad.append((line, f'import_module({name!r})'))
    return sorted(bad)


def _tools():
    return sorted(glob.glob(osp.join(ROOT, 'tools', '**', '*.py'),
                            recursive=True))


def test_the_checker_flags_what_is_not_the_front_door():
    src = '\n'.join([
        'import os',
        'import mmhybrid.models',
        'from mmhybrid.apis import build_model',
        'from mmhybrid import analysis',
        'from mmhybrid.apis.task_timing import PartTimer',
        'from mmhybrid.models.deploy import FusedConv2d',
        'import mmhybrid.models as m',
        'from mmhybrid import models',
        'import mmhybrid.utils',
        'from .helpers import x',
        'import importlib',
        "importlib.import_module('mmhybrid.models.utils')",
        'def f():',
        '    from mmhybrid.engine.safe_load import safe_load',
    ])
    assert front_door_violations(src) == [
        (5, 'from mmhybrid.apis.task_timing import PartTimer'),
        (6, 'from mmhybrid.models.deploy import FusedConv2d'),
        (7, 'import mmhybrid.models as m'),
        (8, 'from mmhybrid import models'),
        (9, 'import mmhybrid.utils'),
        (10, 'from .helpers import x'),
        (12, "import_module('mmhybrid.models.utils')"),
        (14, 'from mmhybrid.engine.safe_load import safe_load')]


def test_there_are_tools_to_check():
    names = [osp.relpath(p, ROOT) for p in _tools()]
    assert 'tools/train.py' in names
    assert 'tools/analysis_tools/benchmark.py' in names


@pytest.mark.parametrize('tool', [osp.relpath(p, ROOT) for p in _tools()])
def test_tool_imports_only_the_front_door(tool):
    with open(osp.join(ROOT, tool), encoding='utf-8') as f:
        bad = front_door_violations(f.read(), tool)
    assert not bad, f'{tool} imports past the front door (' + ', '.join(
        FRONT_DOORS) + '): ' + '; '.join(f'line {n}: {imp}' for n, imp in bad)


def _refers_to_tools(node):
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            v = sub.value.replace('\\', '/')
            if v == 'tools' or v.startswith('tools/') or '/tools/' in v:
                return True
    return False


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def _own_nodes(scope):
    """The nodes of a module or function, those of the functions and
    classes nested in it excluded."""
    todo = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, _SCOPES):
            todo.extend(ast.iter_child_nodes(node))


def tool_loads(source, filename='<test>'):
    """``[(line, call)]``: the calls of ``source`` that load a file by path
    (:data:`LOADERS`) in a function (or module) that names a file under
    ``tools/``. Code in a string run as a subprocess is not a call here."""
    tree = ast.parse(source, filename)
    scopes = [tree] + [n for n in ast.walk(tree)
                       if isinstance(n, _SCOPES)]
    found = set()
    for scope in scopes:
        own = list(_own_nodes(scope))
        if not any(_refers_to_tools(n) for n in own
                   if isinstance(n, ast.Constant)):
            continue
        for n in own:
            if isinstance(n, ast.Call):
                name = getattr(n.func, 'attr', None) or getattr(
                    n.func, 'id', None)
                if name in LOADERS:
                    found.add((n.lineno, name))
    return sorted(found)


def test_the_tool_load_checker_flags_loading_by_path():
    src = '\n'.join([
        'import importlib.util, runpy, subprocess, sys',
        'def _load():',
        '    spec = importlib.util.spec_from_file_location(',
        "        'x', osp.join(ROOT, 'tools', 'run_demo.py'))",
        'def test_a():',
        "    runpy.run_path('tools/inference.py')",
        'def test_b(tmp_path):',  # a library file, not a tool
        "    importlib.util.spec_from_file_location('e', tmp_path / 'e.py')",
        'def test_c():',  # a tool run as a subprocess: fine
        "    subprocess.run([sys.executable, '-c', 'import runpy; "
        "runpy.run_path(\"tools/x.py\")'])",
    ])
    assert tool_loads(src) == [(3, 'spec_from_file_location'),
                               (6, 'run_path')]


def test_no_test_loads_a_tool_file():
    tests = sorted(glob.glob(osp.join(ROOT, 'tests', '**', '*.py'),
                             recursive=True))
    assert osp.join(ROOT, 'tests', 'test_tools', 'test_front_door.py') in \
        tests
    bad = []
    for path in tests:
        with open(path, encoding='utf-8') as f:
            source = f.read()
        bad += [f'{osp.relpath(path, ROOT)}:{line} {call}'
                for line, call in tool_loads(source, path)]
    assert not bad, ('tests load tool files into their process (import the '
                     'library instead, or run the tool as a subprocess): '
                     + '; '.join(bad))
