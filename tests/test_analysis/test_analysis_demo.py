"""The demo runner (mmhybrid.analysis.demo) finds each family's toy configs
by their names; its summary names every file it made."""
import os.path as osp

from mmhybrid.analysis import (check_jobs, demo_summary, flat_metrics,
                               toy_configs)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_default_family_runs_the_shvit_s1_toys():
    assert toy_configs(ROOT)['shvit'] == dict(
        det='configs/demo/maskrcnn_shvit_s1_toy.py',
        seg='configs/demo/fpn_shvit_s1_toy.py')


def test_a_new_family_needs_only_its_toy_configs(tmp_path):
    demo = tmp_path / 'configs' / 'demo'
    demo.mkdir(parents=True)
    for name in ('maskrcnn_my_net_b0_toy.py', 'fpn_my_net_b0_toy.py',
                 'fpn_other_t_toy.py', 'hamvit_folder_toy.py'):
        (demo / name).write_text('')
    families = toy_configs(str(tmp_path))
    assert families == {
        'my_net': dict(det='configs/demo/maskrcnn_my_net_b0_toy.py',
                       seg='configs/demo/fpn_my_net_b0_toy.py'),
        'other': dict(seg='configs/demo/fpn_other_t_toy.py')}
    assert check_jobs(families, 'my_net', ['det', 'seg']) is None
    assert 'fpn' not in check_jobs(families, 'other', ['det', 'seg'])
    assert 'maskrcnn_other_<arch>_toy.py' in check_jobs(families, 'other',
                                                        ['det'])


def test_summary_lists_metrics_and_files():
    job = dict(name='fpn_x_toy', metrics=dict(mIoU=12.5),
               metrics_file='m.json', checkpoint='c.pth', work_dir='w',
               train_log='t.log', test_log='v.log', loss_curve='l.png',
               predictions=['p1.png', 'p2.png'], train_time=3.,
               test_time=1., predict_time=2.)
    text = demo_summary([job], dict(mIoU=12.5), 65.)
    assert 'mIoU: 12.5000' in text
    for name in ('c.pth', 't.log', 'v.log', 'm.json', 'l.png', 'p1.png, '
                 'p2.png'):
        assert name in text
    assert text.endswith('total elapsed: 65.0s (1.1 min)')
    assert flat_metrics(dict(bbox_mAP=0.0, mIoU=3.0)) == ['bbox_mAP']
