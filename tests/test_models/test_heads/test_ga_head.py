"""The Gramian-attention head: model size, the decorrelation loss of the
spec, inference = sum of the branches, any input size, float32 Gram, errors.
Equality with the upstream GA-CSWin-T is in
tests/test_tools/test_cswin_converter.py (via the converter)."""
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmhybrid.models import CSWin, GAHead
from mmhybrid.models.heads.ga_head import aggregate, decorrelation_loss

from tests import ROOT
# GA paper: GA-CSWin-T / -S with the 1000-class heads, 42.0M / 54.3M
PAPER_PARAMS = {'t': 42.0e6, 's': 54.3e6}
TINY_ARCH = dict(embed_dims=[16, 32, 64, 128], depths=[1, 1, 5, 1],
                 num_heads=[2, 2, 4, 8], split_sizes=[1, 2, 7, 7])
TINY_TAPS = dict(stage=2, blocks=(0, 1, 2, 3))
TINY_HEAD = dict(in_channels=(16, 32, 64, 128), embed_dim=64, stage5_heads=4,
                 gram_dim=16, gram_heads=2, ga_heads=2, ga_head_dim=8)


def _classifier(arch='t'):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', f'imagenet_ga_cswin_{arch}.py'))
    init_default_scope('mmpretrain')
    return MODELS.build(cfg.model)


def _tiny(num_classes=10, **head_kwargs):
    backbone = CSWin(TINY_ARCH, out_norm=False, taps=TINY_TAPS)
    head = GAHead(num_classes, **TINY_HEAD, **head_kwargs)
    head.init_weights()
    return backbone, head


@pytest.mark.parametrize('arch', ['t', 's'])
def test_param_count_close_to_paper(arch):
    model = _classifier(arch)
    n = sum(p.numel() for p in model.parameters())
    n_head = sum(p.numel() for p in model.head.parameters())
    print(f'GA-CSWin-{arch.upper()}: {n / 1e6:.2f}M params (head '
          f'{n_head / 1e6:.2f}M), paper {PAPER_PARAMS[arch] / 1e6:.1f}M')
    assert abs(n - PAPER_PARAMS[arch]) <= 0.04 * PAPER_PARAMS[arch]


def test_decorrelation_loss_identical_heads_is_zero():
    logits = torch.randn(3, 7)
    assert decorrelation_loss([logits] * 5).abs().item() < 1e-7


def test_decorrelation_loss_two_class_hand_example():
    # two heads on one sample: softmax [1/2, 1/2] and [3/4, 1/4]
    h1, h2 = torch.tensor([[0., 0.]]), torch.tensor([[math.log(3.), 0.]])
    # the mean logits [log(3)/2, 0] give p = [sqrt(3), 1] / (sqrt(3) + 1)
    p = [math.sqrt(3) / (math.sqrt(3) + 1), 1 / (math.sqrt(3) + 1)]
    kl1 = p[0] * math.log(p[0] / 0.5) + p[1] * math.log(p[1] / 0.5)
    kl2 = p[0] * math.log(p[0] / 0.75) + p[1] * math.log(p[1] / 0.25)
    expected = (kl1 + kl2) / 2  # each KL averaged over 1 sample x 2 classes
    assert decorrelation_loss([h1, h2]).item() == pytest.approx(expected,
                                                                rel=1e-5)
    # the same on a batch of two copies (averaged over the batch too)
    assert decorrelation_loss([h1.repeat(2, 1), h2.repeat(2, 1)]).item() \
        == pytest.approx(expected, rel=1e-5)


def test_decorrelation_target_is_detached_and_negative_weight_separates():
    """The mean is a constant target; with lambda < 0 a gradient step on the
    total loss moves the heads apart (KL grows)."""
    a = torch.tensor([[1., 0., -1.]], requires_grad=True)
    b = torch.tensor([[0., 0.5, 0.]], requires_grad=True)
    loss = decorrelation_loss([a, b])
    loss.backward()
    target = torch.stack([a, b]).mean(0).detach().softmax(-1)
    ref = F.kl_div(a.log_softmax(-1), target, reduction='mean')
    ga, = torch.autograd.grad(ref, a)
    assert torch.allclose(a.grad, ga)
    with torch.no_grad():
        stepped = decorrelation_loss([a - 10 * (-0.8) * a.grad,
                                      b - 10 * (-0.8) * b.grad])
    assert stepped > loss


def test_loss_terms_and_lambda():
    from mmpretrain.structures import DataSample
    backbone, head = _tiny(decorr_weight=-0.8)
    feats = backbone(torch.randn(2, 3, 64, 64))
    samples = [DataSample().set_gt_label(i) for i in range(2)]
    losses = head.loss(feats, samples)
    branches = head.forward_branches(feats)
    target = torch.tensor([0, 1])
    cls = sum(F.cross_entropy(b, target) for b in branches)
    assert torch.allclose(losses['loss_cls'], cls, rtol=1e-5)
    assert torch.allclose(losses['loss_decorr'],
                          -0.8 * decorrelation_loss(branches), rtol=1e-5)
    assert losses['loss_decorr'] <= 0
    head.decorr_weight = 0
    assert set(head.loss(feats, samples)) == {'loss_cls'}


def test_bce_is_averaged_over_batch_and_classes():
    """The BCE of the GA configs is timm's (mean over batch x classes), the
    scale of the KL term, not mmpretrain's sum over classes."""
    from mmpretrain.structures import DataSample
    backbone, head = _tiny(
        num_classes=10, decorr_weight=0,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                  mode='original', use_sigmoid=True))
    feats = backbone(torch.randn(2, 3, 64, 64))
    samples = [DataSample().set_gt_label(i) for i in range(2)]
    loss = head.loss(feats, samples)['loss_cls']
    target = F.one_hot(torch.tensor([0, 1]), 10).float() * 0.9 + 0.01
    expected = sum(F.binary_cross_entropy_with_logits(b, target)
                   for b in head.forward_branches(feats))
    assert torch.allclose(loss, expected, rtol=1e-5)


def test_inference_is_the_sum_of_branches_and_head_follows_input_size():
    model = _classifier('t').eval()
    grids = []
    model.head.stage5.register_forward_hook(
        lambda m, i, o: grids.append(o[1]))
    for size, grid in (((256, 320), (16, 20)), ((200, 232), (13, 15))):
        x = torch.randn(1, 3, *size)
        with torch.no_grad():
            logits = model(x, mode='tensor')
            branches = model.head.forward_branches(model.extract_feat(x))
        assert logits.shape == (1, 1000)
        assert torch.allclose(logits, sum(branches), atol=1e-5)
        assert grids[-1] == grid
    preds = model.predict(torch.randn(1, 3, 96, 96))
    assert preds[0].pred_score.shape == (1000, )


@pytest.mark.parametrize('arch,blocks', [('t', (4, 8, 12, 16)),
                                         ('s', (6, 12, 18, 24))])
def test_configs_tap_every_fifth_of_stage3(arch, blocks):
    """The GA configs tap stage 3 after every depth//5 blocks (at most 4):
    blocks 4, 8, 12, 16 for 't'; 6, 12, 18, 24 for 's' (1-based)."""
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', f'imagenet_ga_cswin_{arch}.py'))
    depth = CSWin.arch_zoo[arch]['depths'][2]
    assert tuple(range(depth // 5, depth + 1, depth // 5))[:4] == blocks
    assert cfg.model.backbone.taps == dict(
        stage=2, blocks=tuple(b - 1 for b in blocks))
    assert cfg.model.head.tap_stage == cfg.model.backbone.taps.stage
    assert cfg.model.head.num_taps == len(blocks)


def test_backbone_output_is_what_the_head_aggregates():
    model = _classifier('t')
    outs = model.backbone(torch.randn(1, 3, 224, 224))
    assert [tuple(o.shape[1:]) for o in outs] == [
        (64, 56, 56), (128, 28, 28), (256, 14, 14), (512, 7, 7)
    ] + [(256, 14, 14)] * 4
    assert model.backbone.out_channels == [64, 128, 256, 512] + [256] * 4
    assert list(model.head.in_channels) + [256] * model.head.num_taps == \
        model.backbone.out_channels


def test_aggregate_order_and_any_stage_count():
    """Finer stages pooled, the taps, the tap stage, coarser stages resized;
    any number of stages (e.g. a single-stage ViT-like backbone)."""
    s1, s2 = torch.randn(1, 2, 8, 8), torch.randn(1, 3, 4, 4)
    s3, tap = torch.randn(1, 5, 2, 2), torch.randn(1, 3, 4, 4)
    x = aggregate([s1, s2, s3, tap], num_stages=3, tap_stage=1)
    assert x.shape == (1, 2 + 3 + 3 + 5, 4, 4)
    torch.testing.assert_close(x[:, :2], F.avg_pool2d(s1, 2))
    torch.testing.assert_close(x[:, 2:5], tap)
    torch.testing.assert_close(x[:, 5:8], s2)
    torch.testing.assert_close(
        x[:, 8:], F.interpolate(s3, scale_factor=2, mode='bilinear'))
    y = aggregate([s2, tap, tap], num_stages=1, tap_stage=0)
    assert torch.equal(y, torch.cat([tap, tap, s2], dim=1))


def test_head_on_another_stage_layout():
    """The head reads its layout from in_channels/num_taps/tap_stage: three
    stages, taps of the last one."""
    backbone = CSWin(TINY_ARCH, out_norm=False, out_indices=(1, 2, 3),
                     taps=dict(stage=3, blocks=(0, 0)))
    head = GAHead(10, **dict(TINY_HEAD, in_channels=(32, 64, 128)),
                  num_taps=2, tap_stage=2, split_size=2)
    grids = []
    head.stage5.register_forward_hook(lambda m, i, o: grids.append(o[1]))
    logits = head(backbone(torch.randn(2, 3, 96, 80)))
    assert logits.shape == (2, 10) and grids == [(3, 3)]
    assert head.stage5.conv.in_channels == 32 + 2 * 128 + 64 + 128


def test_layer_scale_init_and_gram_in_float32():
    backbone, head = _tiny()
    for block in head.ga:
        assert torch.all(block.gamma_1 == 1e-4)
        assert torch.all(block.gamma_2 == 1e-4)
    z = torch.randn(2, 36, 16, dtype=torch.bfloat16)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        gram = head.gram_token(z, (6, 6))
    assert gram.dtype == torch.float32 and gram.shape == (2, 16 * 17 // 2)
    assert torch.allclose(gram.norm(dim=1), torch.ones(2))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        logits = head(backbone(torch.randn(2, 3, 64, 64)))
    assert torch.isfinite(logits.float()).all()


def test_errors():
    backbone = CSWin(TINY_ARCH, out_norm=False)  # no taps
    head = GAHead(10, **TINY_HEAD)
    with pytest.raises(ValueError, match=r'4 taps of stage 2.*got channels '
                       r'\[16, 32, 64, 128\]'):
        head(backbone(torch.randn(1, 3, 64, 64)))
    with pytest.raises(ValueError, match='not divisible by gram_groups'):
        GAHead(10, **dict(TINY_HEAD, gram_dim=20))
    with pytest.raises(ValueError, match='num_classes'):
        GAHead(0)
    with pytest.raises(ValueError, match='tap_stage=3 is not a stage'):
        GAHead(10, in_channels=(64, 128, 256), tap_stage=3)
