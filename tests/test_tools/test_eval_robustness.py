"""tools/analysis_tools/eval_robustness.py on the toy classification set."""
import importlib.util
import json
import os.path as osp

import pytest
import torch

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


def _load_tool():
    path = osp.join(ROOT, 'tools', 'analysis_tools', 'eval_robustness.py')
    spec = importlib.util.spec_from_file_location('eval_robustness', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def tool():
    return _load_tool()


@pytest.fixture(scope='module')
def setup(tool, tmp_path_factory):
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
    pm = tool.pixel_model(model)
    xs, ys = [], []
    for data in tool.build_test_loader(cfg):
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


def test_fgsm_pgd_consistency(tool, setup):
    cfg_path, ckpt, tmp = setup
    out = tmp / 'out'
    res = tool.main([cfg_path, ckpt, '--eps', '0', '2/255', '8/255',
                     '--attack', 'fgsm', 'pgd', '--pgd-steps', '3',
                     '--out-dir', str(out)])
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


def test_max_images_and_eps_parsing(tool, setup):
    cfg_path, ckpt, tmp = setup
    res = tool.main([cfg_path, ckpt, '--eps', '0', '1/255', '--attack',
                     'fgsm', '--max-images', '5', '--out-dir',
                     str(tmp / 'out2'), '--no-attention-figure'])
    assert res['num_images'] == 5
    assert res['attacks']['fgsm'][1]['eps'] == pytest.approx(1 / 255)
    assert not osp.exists(tmp / 'out2' / 'attention_disruption.png')


def test_missing_checkpoint_named(tool, setup, tmp_path):
    cfg_path, _, _ = setup
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        tool.main([cfg_path, str(tmp_path / 'absent.pth')])
