"""The deploy package's front door: importable alone (no mmdeploy, no
onnxruntime, no model registration), and the names users had keep working."""
import json
import subprocess
import sys

import mmhybrid.deploy as deploy
import mmhybrid.utils as utils
from tests import ROOT


def test_imports_without_exporters_or_models():
    code = ('import json, sys; import mmhybrid.deploy; '
            'print(json.dumps(sorted(m for m in ("mmdeploy", "onnxruntime", '
            '"mmhybrid.models") if m in sys.modules)))')
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_front_door_and_old_names():
    for name in deploy.__all__:
        assert getattr(deploy, name) is not None
    for name in ('switch_to_deploy', 'enable_bf16', 'bf16_autocast'):
        assert getattr(utils, name) is getattr(deploy, name)
