"""mmhybrid.analysis.logs (what tools/analysis_tools/analyze_logs.py runs)
on a synthetic mmengine scalars.json."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from mmhybrid.analysis import (LogError, cal_train_time, key_series,
                               load_json_log, plot_curve, train_time_report)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

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
    assert plot_curve([log, log], ['loss', 'lr', 'coco/bbox_mAP'],
                      out=out) == out
    with open(out, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    xs, ys, label = key_series(load_json_log(log)[1], 'coco/bbox_mAP')
    assert list(xs) == [1, 2] and label == 'epoch'
    # a work dir resolves to its run's scalars.json
    out2 = str(tmp_path / 'curve2.png')
    plot_curve([str(tmp_path / 'work')], ['loss'], legend=['run'], out=out2)
    assert osp.getsize(out2) > 0


def test_unknown_key_lists_available(log, tmp_path):
    with pytest.raises(LogError) as e:
        plot_curve([log], ['mIoU'], out=str(tmp_path / 'x.png'))
    for key in ('mIoU', 'loss', 'lr', 'time', 'coco/bbox_mAP'):
        assert key in str(e.value)
    assert not osp.exists(tmp_path / 'x.png')


def test_legend_of_the_wrong_length_is_refused(log, tmp_path):
    with pytest.raises(LogError, match='--legend needs 2 names'):
        plot_curve([log], ['loss', 'lr'], legend=['one'],
                   out=str(tmp_path / 'x.png'))


def test_cal_train_time(log):
    (res, ) = cal_train_time([log])
    text = '\n'.join(train_time_report(res))
    assert 'slowest epoch 1, average time is 0.5000 s/iter' in text
    assert 'fastest epoch 2, average time is 0.3000 s/iter' in text
    assert 'average iter time: 0.4000 s/iter' in text
    assert res['epoch_std'] == pytest.approx(0.1)
    assert res['num_iters'] == 80
    assert res['total_time'] == pytest.approx(0.4 * 80)
    (res, ) = cal_train_time([log], include_outliers=True)
    assert res['mean_time'] == pytest.approx((5 * 2 + 0.5 * 3 + 0.3 * 3) / 8)


def test_not_json_names_the_line(tmp_path):
    bad = tmp_path / 'scalars.json'
    bad.write_text('{"loss": 1, "iter": 1, "step": 1}\nnot json\n')
    with pytest.raises(LogError, match=r'scalars\.json:2 is not JSON'):
        load_json_log(str(bad))


def test_cli_prints_and_names_a_missing_file(log, tmp_path):
    """The command line: the report on stdout, a missing log named on
    stderr with exit code 2."""
    tool = 'tools/analysis_tools/analyze_logs.py'
    r = subprocess.run([sys.executable, tool, 'cal_train_time', log],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'average iter time: 0.4000 s/iter' in r.stdout
    missing = str(tmp_path / 'none.json')
    r = subprocess.run([sys.executable, tool, 'plot_curve', missing, '--out',
                        str(tmp_path / 'c.png')],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and missing in r.stderr
