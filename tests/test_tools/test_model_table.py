"""The README's model table is what tools/analysis_tools/model_table.py
measures now (not typed in, not stale)."""
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_readme_table_matches_measurement():
    r = subprocess.run(
        [sys.executable, 'tools/analysis_tools/model_table.py'], cwd=ROOT,
        capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    table = r.stdout[r.stdout.index('| config |'):].strip()
    assert '| `configs/imagenet_shvit_s4.py` | 256 | 16.59M |' in table
    readme = open(osp.join(ROOT, 'README.md'), encoding='utf-8').read()
    assert table in readme, 'README model table is stale: run ' \
        'tools/analysis_tools/model_table.py --update-readme'
