"""mmhybrid's tests; they mirror the package (tests/test_models/test_backbones
<-> mmhybrid/models/backbones, ...). ``ROOT`` is the repository root."""
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
