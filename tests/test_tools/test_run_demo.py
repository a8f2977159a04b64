"""tools/run_demo.py finds each family's toy configs by their names."""
import importlib.util
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        'run_demo', osp.join(ROOT, 'tools', 'run_demo.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_default_family_runs_the_shvit_s1_toys():
    assert _load_tool().toy_configs()['shvit'] == dict(
        det='configs/demo/maskrcnn_shvit_s1_toy.py',
        seg='configs/demo/fpn_shvit_s1_toy.py')


def test_a_new_family_needs_only_its_toy_configs(tmp_path, monkeypatch):
    tool = _load_tool()
    demo = tmp_path / 'configs' / 'demo'
    demo.mkdir(parents=True)
    for name in ('maskrcnn_my_net_b0_toy.py', 'fpn_my_net_b0_toy.py',
                 'fpn_other_t_toy.py', 'hamvit_folder_toy.py'):
        (demo / name).write_text('')
    monkeypatch.setattr(tool, 'REPO', str(tmp_path))
    assert tool.toy_configs() == {
        'my_net': dict(det='configs/demo/maskrcnn_my_net_b0_toy.py',
                       seg='configs/demo/fpn_my_net_b0_toy.py'),
        'other': dict(seg='configs/demo/fpn_other_t_toy.py')}
