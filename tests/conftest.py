import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests'))
# tools run as subprocesses import the mmhybrid of this tree, not whatever
# copy is installed
os.environ['PYTHONPATH'] = os.pathsep.join(
    p for p in (ROOT, os.environ.get('PYTHONPATH')) if p)


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield
