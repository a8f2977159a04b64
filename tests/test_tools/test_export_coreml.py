"""Core ML export (mmhybrid.deploy.coreml, the library of
tools/deployment/export_coreml.py, run here as a command line): the deploy form of SHViT-S1 (bare
backbone and classifier config) becomes an ML program that reloads with the
traced model's input/output names and shapes; a user's mistake ends with one
line and exit 1. Prediction parity cannot be tested: coremltools runs Core ML
models only on macOS.

coremltools is part of ``make install``: when it cannot be imported these
tests fail (they do not skip)."""
import os.path as osp
import subprocess
import sys

import pytest

from mmhybrid.deploy import coreml

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class _Captured:

    def __init__(self, proc):
        self.out, self.err = proc.stdout, proc.stderr


def _main(args):
    """The command line in a subprocess: ``(returncode, captured)``."""
    proc = subprocess.run(
        [sys.executable, 'tools/deployment/export_coreml.py', *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    return proc.returncode, _Captured(proc)


def _spec_io(path):
    ct = coreml.import_coremltools()  # UsageError (a failure) if missing
    spec = ct.models.MLModel(path, skip_model_load=True).get_spec()
    assert spec.WhichOneof('Type') == 'mlProgram'
    return (coreml.spec_io(spec.description.input),
            coreml.spec_io(spec.description.output))


def test_coremltools_is_installed():
    ct = coreml.import_coremltools()
    assert hasattr(ct, 'convert')


def test_shvit_s1_backbone_package_reloads(tmp_path):
    out = str(tmp_path / 'shvit_s1.mlpackage')
    rc, captured = _main(['--backbone', 'SHViT', '--arch', 's1', '--shape',
                          '64', '96', '--out', out])
    assert rc == 0, captured.err
    assert osp.isfile(osp.join(out, 'Manifest.json'))
    inputs, outputs = _spec_io(out)
    # SHViT: strides 16, 32, 64; S1 widths 128, 224, 320
    assert inputs == [('input', (1, 3, 64, 96))]
    assert outputs == [('output0', (1, 128, 4, 6)),
                       ('output1', (1, 224, 2, 3)),
                       ('output2', (1, 320, 1, 2))]
    for phase in ('build', 'deploy', 'trace', 'convert', 'save', 'verify'):
        assert f'[{phase}]' in captured.err
    assert 'switched: SHViT' in captured.err
    assert out in captured.out and 'output2: [1, 320, 1, 2]' in captured.out
    assert 'parity: NOT measured' in captured.out


def test_classifier_config_exports_logits(tmp_path):
    out = str(tmp_path / 'cls.mlpackage')
    rc, captured = _main([osp.join(ROOT, 'configs/imagenet_shvit_s1.py'),
                          '--shape', '64', '64', '--out', out])
    assert rc == 0, captured.err
    assert 'BNLinearClsHead' in captured.err  # the head's BN is folded too
    assert _spec_io(out) == ([('input', (1, 3, 64, 64))],
                             [('logits', (1, 1000))])


def test_missing_checkpoint(tmp_path):
    missing = str(tmp_path / 'nope.pth')
    out = tmp_path / 'x.mlpackage'
    rc, captured = _main(['--backbone', 'SHViT', '--arch', 's1',
                          '--checkpoint', missing, '--shape', '64', '64',
                          '--out', str(out)])
    err = captured.err
    assert rc == 1
    assert f'error: Checkpoint not found: {missing!r}' in err
    assert 'Traceback' not in err and not out.exists()


def test_unknown_backbone(tmp_path):
    rc, captured = _main(['--backbone', 'NoSuchNet', '--out',
                          str(tmp_path / 'x.mlpackage')])
    err = captured.err
    # --backbone takes the registered backbones only (argparse's usage error)
    assert rc == 2
    assert "invalid choice: 'NoSuchNet'" in err and 'SHViT' in err
    assert 'Traceback' not in err


def test_unconvertible_op_is_named():
    """A model with an op coremltools has no converter for fails with that
    op's name (taken from the converter's frames), not a traceback."""
    import torch

    class Erfinv(torch.nn.Module):

        def forward(self, x):
            return (torch.erfinv(x.clamp(-0.5, 0.5)), )

    ct = coreml.import_coremltools()
    x = torch.rand(1, 3, 8, 8)
    traced, outs = coreml.trace(Erfinv().eval(), x)
    with pytest.raises(coreml.ConversionError, match="at op 'erfinv'"):
        coreml.convert(ct, traced, x, ['output0'], 'float32')
    from coremltools.converters.mil.frontend.torch.torch_op_registry import \
        _TORCH_OPS_REGISTRY
    assert 'view_as' not in _TORCH_OPS_REGISTRY  # the fixes are taken out
    e = NotImplementedError(
        "PyTorch convert function for op 'foo_bar' not implemented.")
    assert coreml.failing_op(e) == ('foo_bar', None)  # from the message


def test_hamvit_off_its_trained_size_names_bicubic(tmp_path):
    """HAMViT converts at its trained size only: elsewhere its position
    embedding needs a bicubic resize, which Core ML does not have."""
    out = tmp_path / 'hamvit.mlpackage'
    rc, captured = _main(['--backbone', 'HAMViT', '--shape', '64', '64',
                          '--out', str(out)])
    err = captured.err
    assert rc == 2 and not out.exists()
    assert "cannot convert the model at op 'upsample_bicubic2d'" in err


def test_out_must_be_a_package(tmp_path):
    rc, captured = _main(['--backbone', 'SHViT', '--out',
                          str(tmp_path / 'x.onnx')])
    assert rc == 2  # argparse's usage error
    assert '--out must be a .mlpackage' in captured.err
