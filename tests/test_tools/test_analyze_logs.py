"""tools/analysis_tools/analyze_logs.py on a synthetic mmengine
scalars.json."""
import importlib.util
import json
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        'analyze_logs', osp.join(ROOT, 'tools/analysis_tools/analyze_logs.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


tool = _load_tool()

# epoch 1 records take 0.5 s/iter, epoch 2 0.3 s/iter; the first record of
# each epoch is a 5 s outlier
TIMES = {1: [5.0, 0.5, 0.5, 0.5], 2: [5.0, 0.3, 0.3, 0.3]}


@pytest.fixture
def log(tmp_path):
    run = tmp_path / 'work' / '20260101_000000' / 'vis_data'
    run.mkdir(parents=True)
    lines, step = [], 0
    for epoch, times in TIMES.items():
        for i, t in enumerate(times):
            step += 10
            lines.append(dict(lr=0.01 / epoch, loss=2.0 / step, time=t,
                              data_time=0.01, epoch=epoch, iter=step,
                              step=step))
        lines.append({'coco/bbox_mAP': 0.1 * epoch, 'step': epoch})
    path = run / 'scalars.json'
    path.write_text('\n'.join(json.dumps(x) for x in lines) + '\n')
    return str(path)


def test_plot_curve_png(log, tmp_path):
    out = str(tmp_path / 'curve.png')
    assert tool.main(['plot_curve', log, log, '--keys', 'loss', 'lr',
                      'coco/bbox_mAP', '--out', out]) == 0
    with open(out, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    xs, ys, label = tool.key_series(tool.load_json_log(log)[1],
                                    'coco/bbox_mAP')
    assert list(xs) == [1, 2] and label == 'epoch'
    # a work dir resolves to its run's scalars.json
    out2 = str(tmp_path / 'curve2.png')
    assert tool.main(['plot_curve', str(tmp_path / 'work'), '--keys',
                      'loss', '--legend', 'run', '--out', out2]) == 0
    assert osp.getsize(out2) > 0


def test_unknown_key_lists_available(log, tmp_path, capsys):
    rc = tool.main(['plot_curve', log, '--keys', 'mIoU', '--out',
                    str(tmp_path / 'x.png')])
    err = capsys.readouterr().err
    assert rc == 2
    assert 'mIoU' in err
    for key in ('loss', 'lr', 'time', 'coco/bbox_mAP'):
        assert key in err
    assert not osp.exists(tmp_path / 'x.png')


def test_missing_file(tmp_path, capsys):
    missing = str(tmp_path / 'none.json')
    assert tool.main(['cal_train_time', missing]) == 2
    assert missing in capsys.readouterr().err


def test_cal_train_time(log, capsys):
    assert tool.main(['cal_train_time', log]) == 0
    text = capsys.readouterr().out
    assert 'slowest epoch 1, average time is 0.5000 s/iter' in text
    assert 'fastest epoch 2, average time is 0.3000 s/iter' in text
    assert 'average iter time: 0.4000 s/iter' in text
    (res, ) = tool.cal_train_time([log])
    assert res['epoch_std'] == pytest.approx(0.1)
    assert res['num_iters'] == 80
    assert res['total_time'] == pytest.approx(0.4 * 80)
    (res, ) = tool.cal_train_time([log], include_outliers=True)
    assert res['mean_time'] == pytest.approx((5 * 2 + 0.5 * 3 + 0.3 * 3) / 8)
