"""FGSM / PGD robustness (:mod:`mmhybrid.apis.robustness`, the library of
tools/analysis_tools/eval_robustness.py) on the toy classification set."""
import json
import os.path as osp

import pytest
import torch

from mmhybrid.apis import robustness

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))

CFG = """
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmhybrid.models'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='SHViT', arch='s1', out_indices=(2, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=3, in_channels=320,
              loss=dict(type='CrossEntropyLoss'), topk=(1, )))
data_preprocessor = dict(num_classes=3, mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)
test_dataloader = dict(
    batch_size=6, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root={root!r},
                 data_prefix='val',
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='Resize', scale=(64, 64)),
                           dict(type='PackInputs')]))
"""


def _eval(config, checkpoint, **kwargs):
    return robustness.eval_robustness(config, checkpoint, progress=False,
                                      **kwargs)


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """Toy set (3 classes x 4 val images at 64 px), SHViT-s1 classifier
    fitted for a few steps on those images so that clean top-1 > 0."""
    from mmengine.config import Config

    from mmhybrid.apis import build_model
    from mmhybrid.testing import make_toy_imagenet
    tmp = tmp_path_factory.mktemp('robust')
    root = str(tmp / 'toy')
    make_toy_imagenet(root, num_train_per_class=1, num_val_per_class=4)
    cfg_path = str(tmp / 'cfg.py')
    with open(cfg_path, 'w') as f:
        f.write(CFG.format(root=root))
    cfg = Config.fromfile(cfg_path)
    torch.manual_seed(0)
    model = build_model(cfg)
    model.init_weights()
    pm = robustness.pixel_model(model)
    xs, ys = [], []
    for data in robustness.build_test_loader(cfg):
        xs.append(torch.stack(data['inputs']).float())
        ys.append(torch.as_tensor([int(d.gt_label[0])
                                   for d in data['data_samples']]))
    x, y = torch.cat(xs), torch.cat(ys)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.eval()  # fit the eval-mode function (BN running statistics)
    for _ in range(15):
        loss = torch.nn.functional.cross_entropy(pm(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ckpt = str(tmp / 'model.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    return cfg_path, ckpt, tmp


def test_fgsm_pgd_consistency(setup):
    cfg_path, ckpt, tmp = setup
    out = tmp / 'out'
    res = _eval(cfg_path, ckpt, eps=[0, 2 / 255, 8 / 255],
                attacks=['fgsm', 'pgd'], pgd_steps=3, out_dir=str(out))
    assert res['num_images'] == 12
    clean = res['clean_top1']
    assert clean > 0
    fgsm, pgd = res['attacks']['fgsm'], res['attacks']['pgd']
    assert fgsm[0]['eps'] == 0 and fgsm[0]['top1'] == clean
    assert pgd[0]['top1'] == clean
    for row in fgsm + pgd:
        assert row['top1'] <= clean
    for name in ('robustness.json', 'robustness_curve.png',
                 'attention_disruption.png'):
        assert osp.isfile(out / name), name
    with open(out / 'robustness.json') as f:
        saved = json.load(f)
    assert saved['clean_top1'] == clean
    assert [r['eps_255'] for r in saved['attacks']['pgd']] == \
        pytest.approx([0, 2, 8])


def test_max_images_and_eps_parsing(setup):
    cfg_path, ckpt, tmp = setup
    eps = [robustness.parse_eps(e) for e in ('0', '1/255')]
    res = _eval(cfg_path, ckpt, eps=eps, attacks=['fgsm'], max_images=5,
                out_dir=str(tmp / 'out2'), attention_figure=False)
    assert res['num_images'] == 5
    assert res['attacks']['fgsm'][1]['eps'] == pytest.approx(1 / 255)
    assert not osp.exists(tmp / 'out2' / 'attention_disruption.png')


def test_missing_checkpoint_named(setup, tmp_path):
    cfg_path, _, _ = setup
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        _eval(cfg_path, str(tmp_path / 'absent.pth'))
    with pytest.raises(ValueError, match="bad epsilon '2/0'"):
        robustness.parse_eps('2/0')


def test_attention_heatmaps_choose_by_layout():
    """Attention over positions first, whatever the labels; else spatial
    maps; channel weights never."""
    from mmhybrid.visualization import attention_heatmaps

    def rec(name, kind, maps):
        return dict(name=name, type='anything', kind=kind, hw=None,
                    maps=maps)

    sp = rec('a', 'spatial', dict(spatial=torch.rand(1, 3, 3)))
    ch = rec('b', 'channel', dict(channel=torch.rand(1, 4)))
    tk = rec('c', 'tokens', dict(mean=torch.rand(1, 2, 2),
                                 query=torch.rand(1, 2, 2)))
    nm = rec('d', 'named', dict(w=torch.rand(1, 4), s=torch.rand(1, 2, 2)))
    assert [n for n, _ in attention_heatmaps([sp, ch, tk, nm])] == ['c']
    got = attention_heatmaps([sp, ch, nm])
    assert [n for n, _ in got] == ['a', 'd']
    assert got[1][1].shape == (2, 2)
    assert attention_heatmaps([ch]) == []
