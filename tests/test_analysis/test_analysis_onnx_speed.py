"""mmhybrid.analysis.onnx_speed: onnxruntime against PyTorch on a whole
exported model (toy Semantic FPN, 64x96). Speed is measured, never
asserted; the rows and errors are."""
import pytest

from mmhybrid.analysis import BenchmarkError, benchmark_onnx, onnx_table

import mmdeploy  # noqa: F401 (make install installs it)
import onnxruntime  # noqa: F401 (make install installs it)
CFG = 'configs/demo/fpn_shvit_s1_toy.py'


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    from mmhybrid.deploy.onnx import export_model
    path = str(tmp_path_factory.mktemp('onnx') / 'fpn.onnx')
    export_model(CFG, path, shape=(64, 96))
    return path


def test_given_file_row(exported):
    [row] = benchmark_onnx([CFG], [exported], shape=(64, 96), threads=1,
                           repeats=2)
    assert row['onnx'] == exported and row['shape'] == [64, 96]
    assert row['detections'] is None  # a segmentor
    assert row['torch_ms'] > 0 and row['onnx_ms'] > 0
    assert row['ratio'] == pytest.approx(row['torch_ms'] / row['onnx_ms'])
    assert f"| {row['ratio']:.2f}x |" in onnx_table([row])


def test_detector_row_counts_detections(tmp_path):
    """Exported here (no file given); ``score_thr=0`` keeps detections on
    random weights, and the row counts what onnxruntime returned."""
    [row] = benchmark_onnx(['configs/demo/maskrcnn_shvit_s1_toy.py'],
                           shape=(64, 64), threads=1, score_thr=0.,
                           repeats=1, out_dir=str(tmp_path))
    assert isinstance(row['detections'], int) and row['detections'] > 0
    assert (tmp_path / 'maskrcnn_shvit_s1_toy.onnx').is_file()
    assert row['ratio'] == pytest.approx(row['torch_ms'] / row['onnx_ms'])


def test_static_file_at_another_size_is_named(exported):
    with pytest.raises(BenchmarkError, match='fpn.onnx does not run'):
        benchmark_onnx([CFG], [exported], shape=(96, 128), threads=1,
                       repeats=1)


@pytest.mark.parametrize('files, msg', [(['a.onnx', 'b.onnx'],
                                         'one per config'),
                                        (['missing.onnx'], 'no such file')])
def test_bad_files_are_named(files, msg):
    with pytest.raises(BenchmarkError, match=msg):
        benchmark_onnx([CFG], files, threads=1)
