"""Gramian-attention (GA) classification head ("Gramian Attention Heads are
Strong yet Efficient Vision Learners", Ryu et al., ICCV 2023).

The head of GA-CSWin: a "stage 5" that aggregates the backbone's multi-level
maps (its stage outputs and the block taps of one stage) on the grid of the
tapped stage, then five branches, each turning a Gram matrix of
its own features into a class token that attends over the stage-5 tokens
(CaiT-style class attention) before its own classifier. Inference returns the
sum of the five logit sets; training adds a (negatively weighted) KL term that
pushes the branches apart.

Parameter names follow the upstream classifier where they can
(``gram_contraction``, ``gram_embedding``, ``ga``, ``fc``); two upstream
``nn.Sequential`` that start with a parameter-free reshape are flattened
(``stage5.1.conv`` -> ``stage5.conv``, ``stage5.1.norm`` -> ``stage5.norm``,
``stage5.2`` -> ``stage5.block``, ``gram_layer.k.1`` -> ``gram_layer.k``).
The converters of the family's released classifiers (GA-CSWin, GA-ConvNeXt)
live in this file (:data:`GA_CSWIN_CLASSIFIER`,
:data:`GA_CONVNEXT_CLASSIFIER`, read through ``GAHead.classifier_converters``).
"""
import re
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmengine.model.weight_init import trunc_normal_
from mmdet.models.layers import nchw_to_nlc, nlc_to_nchw
from mmpretrain.evaluation.metrics import Accuracy
from mmpretrain.models.backbones.convnext import ConvNeXtBlock
from mmpretrain.models.heads import ClsHead
from mmpretrain.models.utils import SELayer, make_divisible

from ...registry import register_model
from ...deploy import deploy_module
from ..layers.cswin_block import CSWinBlock
from ..layers.weight_init import init_transformer_weights
from ..utils.ckpt_convert import ClassifierConverter, first_conversion


# Checkpoint layouts of the GA family's released classifiers.
#
# GA-CSWin classifier (upstream layout) -> mmhybrid's MMPretrain
# ImageClassifier (CSWin backbone + GAHead). The backbone keeps the official
# CSWin names; the head keeps the upstream names but for two ``nn.Sequential``
# whose first member (a reshape) has no parameters, which mmhybrid flattens:
#   stage5.1.conv / stage5.1.norm -> head.stage5.conv / head.stage5.norm
#   stage5.2.*                    -> head.stage5.block.*
#   gram_layer.K.1.*              -> head.gram_layer.K.*
#   gram_contraction / gram_embedding / ga / fc -> head.<same>
_GA_BACKBONE = re.compile(r'(stage1_conv_embed|stage[1-4]|merge[1-3])\.')
_GA_HEAD = re.compile(r'(stage5|gram_contraction|gram_layer|gram_embedding'
                      r'|ga|fc)\.')
_GA_HEAD_RENAMES = [
    (re.compile(r'^stage5\.1\.'), 'stage5.'),
    (re.compile(r'^stage5\.2\.'), 'stage5.block.'),
    (re.compile(r'^gram_layer\.(\d+)\.1\.'), r'gram_layer.\1.'),
]


def ga_cswin_layout(state_dict):
    """Return 'upstream' (the GA-CSWin classifier), 'mmhybrid' (already
    converted: ``backbone.*`` and ``head.gram_embedding.*``) or None (not a
    GA-CSWin classifier)."""
    if any(k.startswith('head.gram_embedding.') for k in state_dict):
        return 'mmhybrid'
    if any(k.startswith('gram_embedding.') for k in state_dict):
        return 'upstream'
    return None


def _ga_cswin_classifier_layout(state_dict):
    """:func:`ga_cswin_layout`, and 'upstream' only with the CSWin backbone
    (``stage1_conv_embed.*``) in the file."""
    layout = ga_cswin_layout(state_dict)
    if layout == 'upstream' and not any(
            k.startswith('stage1_conv_embed.') for k in state_dict):
        return None
    if layout == 'mmhybrid' and not any(
            k.startswith('backbone.stage1_conv_embed.') for k in state_dict):
        return None
    return layout


def ga_cswin_to_mmpretrain(state_dict):
    """A GA-CSWin classifier state dict (upstream or already converted) ->
    the state dict of mmhybrid's ImageClassifier (``backbone.*``,
    ``head.*``). Keys that belong to neither part are returned unchanged
    (not prefixed), so a loader reports them as unexpected."""
    layout = ga_cswin_layout(state_dict)
    if layout is None:
        raise ValueError('not a GA-CSWin classifier state dict (no '
                         'gram_embedding.* keys)')
    if layout == 'mmhybrid':
        return OrderedDict(state_dict)
    out = OrderedDict()
    for k, v in state_dict.items():
        if _GA_BACKBONE.match(k):
            k = f'backbone.{k}'
        elif _GA_HEAD.match(k):
            for pattern, new in _GA_HEAD_RENAMES:
                k = pattern.sub(new, k)
            k = f'head.{k}'
        out[k] = v
    return out


#: the upstream GA-CSWin classifier -> CSWin backbone + GAHead
GA_CSWIN_CLASSIFIER = ClassifierConverter(
    'GA-CSWin', _ga_cswin_classifier_layout, ga_cswin_to_mmpretrain,
    expects='gram_embedding.* and stage1_conv_embed.* keys')


# GA-ConvNeXt classifier (official ``GA/ga_convnext.py``, timm's ConvNeXt
# layout) -> mmhybrid's MMPretrain ImageClassifier (``BlockTaps`` around
# MMPretrain's ConvNeXt + ``GAHead(stage5='bottleneck',
# gram_block='convnext')``):
#   stem.{0,1}                    -> backbone.backbone.downsample_layers.0.*
#   stages.K.downsample.{0,1}     -> backbone.backbone.downsample_layers.K.*
#   stages.K.blocks.J.*           -> backbone.backbone.stages.K.J.*   (K < 4)
#   stages.4.downsample.*         -> head.stage5.shortcut.*
#   stages.4.se.fc{1,2}           -> head.stage5.se.conv{1,2}.conv
#   stages.4.*                    -> head.stage5.*
#   gram_layer.K.blocks.0.*       -> head.gram_layer.K.*
#   gram_contraction / gram_embedding / ga / fc -> head.<same>
# and inside ConvNeXt blocks: conv_dw -> depthwise_conv, mlp.fc1/fc2 ->
# pointwise_conv1/2 (norm and gamma keep their names).
_GA_CONVNEXT_RENAMES = [
    (re.compile(r'^stem\.'), 'backbone.backbone.downsample_layers.0.'),
    (re.compile(r'^stages\.([0-3])\.downsample\.'),
     r'backbone.backbone.downsample_layers.\1.'),
    (re.compile(r'^stages\.([0-3])\.blocks\.(\d+)\.'),
     r'backbone.backbone.stages.\1.\2.'),
    (re.compile(r'^stages\.4\.downsample\.'), 'head.stage5.shortcut.'),
    (re.compile(r'^stages\.4\.se\.fc([12])\.'),
     r'head.stage5.se.conv\1.conv.'),
    (re.compile(r'^stages\.4\.'), 'head.stage5.'),
    (re.compile(r'^gram_layer\.(\d+)\.blocks\.0\.'), r'head.gram_layer.\1.'),
    (re.compile(r'^(gram_contraction|gram_embedding|ga|fc)\.'), r'head.\1.'),
    (re.compile(r'\.conv_dw\.'), '.depthwise_conv.'),
    (re.compile(r'\.mlp\.fc([12])\.(weight|bias)$'),
     r'.pointwise_conv\1.\2'),
]


def ga_convnext_layout(state_dict):
    """Return 'upstream' (the official GA-ConvNeXt classifier), 'mmhybrid'
    (already converted) or None (not a GA-ConvNeXt classifier)."""
    if any(k.startswith('head.gram_embedding.') for k in state_dict) and any(
            k.startswith('backbone.backbone.downsample_layers.')
            for k in state_dict):
        return 'mmhybrid'
    if any(k.startswith('gram_embedding.') for k in state_dict) and any(
            k.startswith('stem.') for k in state_dict):
        return 'upstream'
    return None


def ga_convnext_to_mmpretrain(state_dict):
    """A GA-ConvNeXt classifier state dict (upstream or already converted)
    -> the state dict of mmhybrid's ImageClassifier. Keys that match no rule
    are returned unchanged, so a loader reports them as unexpected."""
    layout = ga_convnext_layout(state_dict)
    if layout is None:
        raise ValueError('not a GA-ConvNeXt classifier state dict (no stem.* '
                         'and gram_embedding.* keys)')
    if layout == 'mmhybrid':
        return OrderedDict(state_dict)
    out = OrderedDict()
    for k, v in state_dict.items():
        new = k
        for pattern, repl in _GA_CONVNEXT_RENAMES:
            new = pattern.sub(repl, new)
        # the ga blocks' grouped-conv MLP keeps its fc1/fc2 names
        if new.startswith('head.ga.'):
            new = 'head.' + k
        out[new] = v
    return out


#: the official GA-ConvNeXt classifier -> BlockTaps(ConvNeXt) + GAHead
GA_CONVNEXT_CLASSIFIER = ClassifierConverter(
    'GA-ConvNeXt', ga_convnext_layout, ga_convnext_to_mmpretrain,
    expects='stem.* and gram_embedding.* keys')


def ga_classifier_convert(state_dict):
    """An upstream GA-CSWin or GA-ConvNeXt classifier state dict ->
    mmhybrid's ImageClassifier keys; None for any other layout."""
    return first_conversion((GA_CSWIN_CLASSIFIER,
                             GA_CONVNEXT_CLASSIFIER))(state_dict)


def decorrelation_loss(logits):
    """``sum_k KL(softmax(mean_j logits_j) || softmax(logits_k))``, each KL
    averaged over batch x classes; the mean is detached (a fixed target).

    Args:
        logits (Sequence[Tensor]): the branch logits, each (B, classes).
    """
    logits = [x.float() for x in logits]
    target = torch.stack(logits).mean(0).detach().softmax(-1)
    return sum(
        F.kl_div(x.log_softmax(-1), target, reduction='mean') for x in logits)


def channel_shuffle(x, groups):
    """Channel shuffle of an NCHW map as upstream does it: output channel
    ``j * C / groups + i`` is input channel ``i * groups + j``, so every
    output group takes channels from all input groups."""
    B, C, H, W = x.shape
    # B, C/groups, groups, H, W -> B, groups, C/groups, H, W
    return x.reshape(B, C // groups, groups, H, W).transpose(1, 2).reshape(
        B, C, H, W)


def aggregate(feats, num_stages, tap_stage):
    """Concatenate a backbone's maps on the grid of stage ``tap_stage``.

    Args:
        feats (Sequence[Tensor]): ``num_stages`` stage outputs (NCHW, fine to
            coarse) followed by the block taps of stage ``tap_stage``.
        num_stages (int): how many of ``feats`` are stage outputs.
        tap_stage (int): the stage (index into the stage outputs) whose
            grid is kept and whose taps follow the stage outputs.

    Returns:
        Tensor: the finer stages adaptive-average-pooled, the taps, stage
        ``tap_stage``, the coarser stages resized bilinearly
        (align_corners=False; exactly x2 for a grid of even side), in this
        order along the channels (B, sum(C), H, W).
    """
    stages, taps = feats[:num_stages], feats[num_stages:]
    size = tuple(stages[tap_stage].shape[2:])
    finer = [F.adaptive_avg_pool2d(x, size) for x in stages[:tap_stage]]
    coarser = [
        F.interpolate(x, size=size, mode='bilinear', align_corners=False)
        for x in stages[tap_stage + 1:]
    ]
    return torch.cat([*finer, *taps, stages[tap_stage], *coarser], dim=1)


class GAStage5(nn.Module):
    """GA-CSWin's stage 5: the aggregated maps (:func:`aggregate`) through a
    1x1 conv, a LayerNorm and one CSWin block."""

    def __init__(self, in_channels, dim, num_heads, split_size, drop_path=0.,
                 num_stages=4, tap_stage=2):
        super().__init__()
        self.num_stages = num_stages
        self.tap_stage = tap_stage
        self.conv = nn.Conv2d(in_channels, dim, 1)
        self.norm = nn.LayerNorm(dim)
        self.block = CSWinBlock(dim, num_heads, split_size,
                                drop_path=drop_path)

    def forward(self, feats):
        """Return the tokens (B, H*W, dim) and (H, W) of the tap grid."""
        x = self.conv(aggregate(feats, self.num_stages, self.tap_stage))
        size = tuple(x.shape[2:])
        return self.block(self.norm(nchw_to_nlc(x)), size), size


class BottleneckStage5(nn.Module):
    """GA-ConvNeXt's stage 5: the aggregated maps (:func:`aggregate`)
    through one SE bottleneck (1x1 -> 3x3 -> SE -> 1x1, BN and ReLU, width
    ``dim // 4``; the shortcut is a 1x1 conv with bias + BN), then ReLU.
    Upstream's ``stages.4`` (``downsample`` there is ``shortcut`` here)."""

    def __init__(self, in_channels, dim, drop_path=0., num_stages=4,
                 tap_stage=2):
        super().__init__()
        self.num_stages = num_stages
        self.tap_stage = tap_stage
        mid = dim // 4
        self.shortcut = nn.Sequential(
            nn.Conv2d(in_channels, dim, 1), nn.BatchNorm2d(dim))
        self.conv1 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        # timm's SE: reduction 1/4, rounded to a multiple of 8
        self.se = SELayer(mid, squeeze_channels=make_divisible(mid / 4, 8))
        self.conv3 = nn.Conv2d(mid, dim, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(dim)
        self.act = nn.ReLU(inplace=True)
        self.drop_path = DropPath(drop_path) if drop_path > 0. \
            else nn.Identity()

    def forward(self, feats):
        """Return the tokens (B, H*W, dim) and (H, W) of the tap grid."""
        x = aggregate(feats, self.num_stages, self.tap_stage)
        y = self.act(self.bn1(self.conv1(x)))
        y = self.se(self.act(self.bn2(self.conv2(y))))
        y = self.drop_path(self.bn3(self.conv3(y)))
        x = self.act(y + self.shortcut(x))
        return nchw_to_nlc(x), tuple(x.shape[2:])


class ConvNeXtGramBlock(ConvNeXtBlock):
    """The branch block of GA-ConvNeXt: MMPretrain's ConvNeXt block (7x7
    depthwise conv, LayerNorm, MLP, LayerScale) on the branch tokens."""

    def __init__(self, dim, drop_path=0., layer_scale_init=1e-6):
        super().__init__(dim, drop_path_rate=drop_path,
                         layer_scale_init_value=layer_scale_init)

    def forward(self, x, hw_shape):
        """x: B, H*W, C -> B, H*W, C."""
        return nchw_to_nlc(super().forward(nlc_to_nchw(x, hw_shape)))


class ClassAttention(nn.Module):
    """CaiT's class attention: only the first token (the class token)
    queries; q, k, v without bias, ``num_heads`` heads of ``head_dim``."""

    def __init__(self, dim, num_heads=8, head_dim=16):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.scale = head_dim**-0.5
        inner = num_heads * head_dim
        self.q = nn.Linear(dim, inner, bias=False)
        self.k = nn.Linear(dim, inner, bias=False)
        self.v = nn.Linear(dim, inner, bias=False)
        self.proj = nn.Linear(inner, dim)

    def forward(self, u):
        """u: B, 1+N, C (class token first) -> B, 1, C."""
        B, N, _ = u.shape
        h, d = self.num_heads, self.head_dim
        q = self.q(u[:, :1]).reshape(B, 1, h, d).transpose(1, 2) * self.scale
        k = self.k(u).reshape(B, N, h, d).transpose(1, 2)  # B, h, N, d
        v = self.v(u).reshape(B, N, h, d).transpose(1, 2)
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)  # B, h, 1, N
        return self.proj((attn @ v).transpose(1, 2).reshape(B, 1, h * d))


class GroupedMlp(nn.Module):
    """MLP of two 1x1 grouped convs (GELU and a channel shuffle between)
    on a token (B, 1, C)."""

    def __init__(self, dim, hidden_dim, groups):
        super().__init__()
        self.groups = groups
        self.fc1 = nn.Conv2d(dim, hidden_dim, 1, groups=groups)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden_dim, dim, 1, groups=groups)

    def forward(self, x):
        x = x.transpose(1, 2).unsqueeze(-1)  # B, C, 1, 1
        x = channel_shuffle(self.act(self.fc1(x)), self.groups)
        return self.fc2(x).flatten(2).transpose(1, 2)


class ClassAttentionBlock(nn.Module):
    """CaiT's LayerScale class-attention block: only the class token is
    updated, ``x_cls += gamma_1 * attn(LN([x_cls; x]))``, then
    ``x_cls += gamma_2 * mlp(LN(x_cls))``."""

    def __init__(self, dim, num_heads=8, head_dim=16, mlp_ratio=4.,
                 mlp_groups=2, layer_scale_init=1e-4, drop_path=0.):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = ClassAttention(dim, num_heads, head_dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = GroupedMlp(dim, int(dim * mlp_ratio), mlp_groups)
        self.gamma_1 = nn.Parameter(torch.full((dim, ), layer_scale_init))
        self.gamma_2 = nn.Parameter(torch.full((dim, ), layer_scale_init))
        self.drop_path = DropPath(drop_path) if drop_path > 0. \
            else nn.Identity()

    def forward(self, x_cls, x):
        u = torch.cat([x_cls, x], dim=1)
        x_cls = x_cls + self.drop_path(self.gamma_1 * self.attn(
            self.norm1(u)))
        return x_cls + self.drop_path(self.gamma_2 * self.mlp(
            self.norm2(x_cls)))


def conv_bn(in_channels, out_channels, groups):
    """1x1 grouped conv (with bias) + BatchNorm2d; keys ``0`` and ``1``."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, groups=groups),
        nn.BatchNorm2d(out_channels))


@register_model
class GAHead(ClsHead):
    """Gramian-attention head (stage-5 aggregation + Gramian-attention
    branches) for an MMPretrain ``ImageClassifier``.

    Any backbone serves it that returns its raw stage outputs (NCHW, fine to
    coarse, channels ``in_channels``) followed by ``num_taps`` block outputs
    of stage ``tap_stage`` (channels ``in_channels[tap_stage]``), e.g.
    ``CSWin(out_norm=False, taps=dict(stage=2, blocks=(3, 7, 11, 15)))`` for
    GA-CSWin-T. The aggregation (:func:`aggregate`) keeps the grid of stage
    ``tap_stage``, so any input size works.

    Stage 5 is ``stage5='cswin'`` (:class:`GAStage5`, GA-CSWin) or
    ``'bottleneck'`` (:class:`BottleneckStage5`, GA-ConvNeXt). Each branch:
    1x1 (grouped) conv ``embed_dim -> gram_dim`` + BN, a branch block
    (``gram_block='cswin'``: a CSWin block; ``'convnext'``:
    :class:`ConvNeXtGramBlock`), the Gram matrix ``G = Z Z^T / N`` of its
    tokens (float32), whose upper triangle (diagonal included) is L2-normalised and embedded by a
    1x1 grouped conv + BN into a class token; one class-attention block over
    the stage-5 tokens; a Linear classifier.

    ``forward`` (``model(x, mode='tensor')``, ``predict``) returns the sum of
    the branch logits; :meth:`forward_branches` returns each. The training
    loss is ``sum_k loss(logits_k, target) + decorr_weight *
    decorrelation_loss(logits)``. The loss module is called without
    ``avg_factor``, i.e. averaged over all its elements: a softmax
    cross-entropy over the batch (as ``ClsHead``), a sigmoid BCE over batch x
    classes (as timm, used upstream), on the scale of the KL term.

    Args:
        num_classes (int): number of classes.
        in_channels (Sequence[int]): channels of the stage outputs.
            Defaults to (64, 128, 256, 512).
        num_taps (int): number of taps after the stage outputs. Defaults
            to 4.
        tap_stage (int): index in ``in_channels`` of the stage the taps come
            from; its grid is the aggregation grid (stride 16 for GA-CSWin).
            Defaults to 2.
        embed_dim (int): stage-5 width. Defaults to 512.
        stage5 (str): the stage-5 block, 'cswin' or 'bottleneck'. Defaults
            to 'cswin'.
        gram_block (str): the branch block, 'cswin' or 'convnext'. Defaults
            to 'cswin'.
        stage5_heads (int): heads of a stage-5 CSWin block. Defaults to 16.
        split_size (int): stripe width of the stage-5 and branch CSWin
            blocks. Defaults to 7.
        num_branches (int): Defaults to 5.
        gram_dim (int): channels whose Gram matrix is taken. Defaults to 192.
        gram_heads (int): heads of the branch CSWin blocks. Defaults to 6.
        gram_groups (int): groups of the embedding convs (and of the
            contraction convs unless ``contraction_groups`` is given).
            Defaults to 8.
        contraction_groups (int, optional): groups of the contraction
            convs (1 in GA-ConvNeXt). Defaults to ``gram_groups``.
        ga_heads (int), ga_head_dim (int): class-attention heads and their
            width. Defaults to 8 and 16.
        ga_mlp_ratio (float): class-attention MLP ratio. Defaults to 4.
        ga_mlp_groups (int): groups of the class-attention MLP convs (and of
            the channel shuffle between them). Defaults to 2.
        layer_scale_init (float): initial LayerScale of the
            class-attention blocks. Defaults to 1e-4.
        gram_layer_scale_init (float): initial LayerScale of ConvNeXt
            branch blocks. Defaults to 1e-6.
        drop_path_rate (float): stochastic depth of the head's blocks.
            Defaults to 0.
        ga_drop_path_rate (float, optional): stochastic depth of the
            class-attention blocks (0 in GA-ConvNeXt). Defaults to
            ``drop_path_rate``.
        decorr_weight (float): lambda of the decorrelation term (negative
            pushes the branches apart). Defaults to -0.8.
        loss (dict): classification loss of every branch.
        topk (int | tuple[int]), cal_acc (bool), init_cfg: as ``ClsHead``
            (the accuracy uses the summed logits).
    """

    #: Upstream GA-CSWin and GA-ConvNeXt classifier checkpoints -> our keys
    #: (read by ``upgrade_classifier_checkpoint``: ``mmpretrain.get_model(...,
    #: pretrained=)``, ``load_from``; and by
    #: ``tools/model_converters/convert.py``).
    classifier_converters = (GA_CSWIN_CLASSIFIER, GA_CONVNEXT_CLASSIFIER)
    convert_classifier_checkpoint = staticmethod(ga_classifier_convert)

    def __init__(self,
                 num_classes,
                 in_channels=(64, 128, 256, 512),
                 num_taps=4,
                 tap_stage=2,
                 embed_dim=512,
                 stage5='cswin',
                 gram_block='cswin',
                 stage5_heads=16,
                 split_size=7,
                 num_branches=5,
                 gram_dim=192,
                 gram_heads=6,
                 gram_groups=8,
                 contraction_groups=None,
                 ga_heads=8,
                 ga_head_dim=16,
                 ga_mlp_ratio=4.,
                 ga_mlp_groups=2,
                 layer_scale_init=1e-4,
                 gram_layer_scale_init=1e-6,
                 drop_path_rate=0.,
                 ga_drop_path_rate=None,
                 decorr_weight=-0.8,
                 loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
                 topk=(1, ),
                 cal_acc=False,
                 init_cfg=None):
        super().__init__(loss=loss, topk=topk, cal_acc=cal_acc,
                         init_cfg=init_cfg)
        if num_classes <= 0:
            raise ValueError(f'num_classes={num_classes} must be positive')
        if not 0 <= tap_stage < len(in_channels):
            raise ValueError(f'tap_stage={tap_stage} is not a stage of '
                             f'in_channels={tuple(in_channels)}')
        if stage5 not in ('cswin', 'bottleneck'):
            raise ValueError(f"stage5={stage5!r}: 'cswin' or 'bottleneck'")
        if gram_block not in ('cswin', 'convnext'):
            raise ValueError(
                f"gram_block={gram_block!r}: 'cswin' or 'convnext'")
        if contraction_groups is None:
            contraction_groups = gram_groups
        gram_size = gram_dim * (gram_dim + 1) // 2
        for name, channels in (('embed_dim', embed_dim),
                               ('gram_dim', gram_dim),
                               ('gram_dim*(gram_dim+1)/2', gram_size)):
            if channels % gram_groups:
                raise ValueError(f'{name}={channels} is not divisible by '
                                 f'gram_groups={gram_groups}')
        self.num_classes = num_classes
        self.in_channels = tuple(in_channels)
        self.num_taps = num_taps
        self.tap_stage = tap_stage
        self.num_branches = num_branches
        self.decorr_weight = decorr_weight
        self.register_buffer(
            'triu', torch.triu_indices(gram_dim, gram_dim), persistent=False)

        agg_channels = sum(in_channels) + num_taps * in_channels[tap_stage]
        if stage5 == 'cswin':
            self.stage5 = GAStage5(agg_channels, embed_dim, stage5_heads,
                                   split_size, drop_path_rate,
                                   len(in_channels), tap_stage)
        else:
            self.stage5 = BottleneckStage5(agg_channels, embed_dim,
                                           drop_path_rate, len(in_channels),
                                           tap_stage)
        branches = range(num_branches)
        self.gram_contraction = nn.ModuleList(
            conv_bn(embed_dim, gram_dim, contraction_groups)
            for _ in branches)
        if gram_block == 'cswin':
            self.gram_layer = nn.ModuleList(
                CSWinBlock(gram_dim, gram_heads, split_size,
                           drop_path=drop_path_rate) for _ in branches)
        else:
            self.gram_layer = nn.ModuleList(
                ConvNeXtGramBlock(gram_dim, drop_path_rate,
                                  gram_layer_scale_init) for _ in branches)
        self.gram_embedding = nn.ModuleList(
            conv_bn(gram_size, embed_dim, gram_groups) for _ in branches)
        self.ga = nn.ModuleList(
            ClassAttentionBlock(embed_dim, ga_heads, ga_head_dim,
                                ga_mlp_ratio, ga_mlp_groups,
                                layer_scale_init,
                                drop_path_rate if ga_drop_path_rate is None
                                else ga_drop_path_rate)
            for _ in branches)
        self.fc = nn.ModuleList(
            nn.Linear(embed_dim, num_classes) for _ in branches)

    def gram_token(self, z, hw_shape):
        """Tokens z (B, N, gram_dim) -> the L2-normalised upper triangle of
        their Gram matrix (B, gram_dim*(gram_dim+1)/2), in float32."""
        with torch.autocast(device_type=z.device.type, enabled=False):
            z = z.float().transpose(1, 2) / hw_shape[0]  # B, gram_dim, N
            gram = z @ z.transpose(1, 2) / z.shape[-1]
            return F.normalize(gram[:, self.triu[0], self.triu[1]], dim=1)

    def pre_logits(self, feats):
        """The class token of every branch, each (B, embed_dim)."""
        expected = list(self.in_channels) + [
            self.in_channels[self.tap_stage]] * self.num_taps
        got = [f.shape[1] for f in feats]
        if got != expected:
            raise ValueError(
                f'GAHead needs {len(self.in_channels)} raw stage outputs and '
                f'{self.num_taps} taps of stage {self.tap_stage}, channels '
                f'{expected}; got channels {got}. E.g. CSWin(out_norm=False, '
                f'taps=dict(stage={self.tap_stage}, blocks=(...)))')
        x, hw_shape = self.stage5(feats)  # B, N, embed_dim
        x_map = nlc_to_nchw(x, hw_shape)
        tokens = []
        for k in range(self.num_branches):
            z = nchw_to_nlc(self.gram_contraction[k](x_map))
            z = self.gram_layer[k](z, hw_shape)
            gram = self.gram_token(z, hw_shape)[..., None, None]
            x_cls = self.gram_embedding[k](gram.to(x.dtype))
            x_cls = nchw_to_nlc(x_cls)  # B, 1, embed_dim
            tokens.append(self.ga[k](x_cls, x).squeeze(1))
        return tokens

    def switch_to_deploy(self):
        """Fold the branch projections' BNs into their grouped convs (the
        other layers have none); outputs unchanged in eval mode."""
        deploy_module(self)

    def forward_branches(self, feats):
        """The logits of every branch, each (B, num_classes)."""
        return [fc(t) for fc, t in zip(self.fc, self.pre_logits(feats))]

    def forward(self, feats):
        """The inference logits: the sum of the branch logits."""
        return sum(self.forward_branches(feats))

    def loss(self, feats, data_samples, **kwargs):
        logits = self.forward_branches(feats)
        if 'gt_score' in data_samples[0]:
            target = torch.stack([i.gt_score for i in data_samples])
        else:
            target = torch.cat([i.gt_label for i in data_samples])
        losses = dict(loss_cls=sum(
            self.loss_module(x, target, **kwargs) for x in logits))
        if self.decorr_weight:
            losses['loss_decorr'] = self.decorr_weight * decorrelation_loss(
                logits)
        if self.cal_acc:
            if target.ndim != 1:
                raise ValueError('cal_acc needs hard labels; it is pointless '
                                 'with Mixup/CutMix')
            acc = Accuracy.calculate(sum(logits), target, topk=self.topk)
            losses.update(
                {f'accuracy_top-{k}': a for k, a in zip(self.topk, acc)})
        return losses

    def init_weights(self):
        if self.init_cfg is not None:
            return super().init_weights()
        init_transformer_weights(self)
        if isinstance(self.stage5, BottleneckStage5):
            # GA-ConvNeXt: every conv truncated normal (std 0.02), zero bias
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    trunc_normal_(m.weight, std=.02)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
        self._is_init = True
