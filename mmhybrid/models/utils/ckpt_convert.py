"""The one place that maps upstream checkpoint layouts to mmhybrid's.

mmhybrid keeps the official key names inside its backbones, so official
checkpoints load unchanged; other layouts are converted here, and both the
backbone loaders and ``tools/model_converters`` call these functions.
"""
import re
from collections import OrderedDict

# timm's SHViT names -> official names.
#   stages.0.blocks.j     -> blocks1.j
#   stages.K.downsample.0 -> blocks{K+1}.0.0   .1 -> blocks{K+1}.0.1
#   stages.K.downsample.2 -> blocks{K+1}.1
#   stages.K.downsample.3 -> blocks{K+1}.2.0   .4 -> blocks{K+1}.2.1
#   stages.K.blocks.j     -> blocks{K+1}.{j+3}   (K >= 1)
_TIMM_DOWNSAMPLE = {'0': '0.0', '1': '0.1', '2': '1', '3': '2.0', '4': '2.1'}


def _timm_key_to_official(key):
    m = re.match(r'stages\.(\d+)\.(downsample|blocks)\.(\d+)\.?(.*)$', key)
    if m is None:
        return key
    stage, kind, idx, rest = int(m[1]), m[2], m[3], m[4]
    if kind == 'downsample':
        new = f'blocks{stage + 1}.{_TIMM_DOWNSAMPLE[idx]}'
    else:
        offset = 0 if stage == 0 else 3
        new = f'blocks{stage + 1}.{int(idx) + offset}'
    return f'{new}.{rest}' if rest else new


def shvit_timm_to_official(state_dict):
    """Rename a timm-layout SHViT state dict to the official layout."""
    return OrderedDict(
        (_timm_key_to_official(k), v) for k, v in state_dict.items())


def shvit_layout(state_dict):
    """Return 'timm', 'mmhybrid' (prefixed by ``backbone.``) or 'official'."""
    if any(k.startswith('stages.') for k in state_dict):
        return 'timm'
    if any(k.startswith('backbone.') for k in state_dict):
        return 'mmhybrid'
    return 'official'


def shvit_convert(state_dict):
    """Any supported SHViT layout -> official layout (head keys kept as
    ``head.*``)."""
    layout = shvit_layout(state_dict)
    if layout == 'timm':
        return shvit_timm_to_official(state_dict)
    if layout == 'mmhybrid':
        out = OrderedDict()
        for k, v in state_dict.items():
            if k.startswith('backbone.'):
                out[k[len('backbone.'):]] = v
            elif k.startswith('head.'):
                out[k] = v
        return out
    return OrderedDict(state_dict)


def shvit_classifier_convert(state_dict):
    """An official or timm SHViT classifier state dict -> mmhybrid's
    ImageClassifier keys; None for ours (already ``backbone.*``) or a state
    dict without SHViT's ``patch_embed``."""
    if shvit_layout(state_dict) == 'mmhybrid' or not any(
            k.startswith('patch_embed.') for k in state_dict):
        return None
    return shvit_to_mmpretrain(state_dict)


def shvit_to_mmpretrain(state_dict):
    """Any supported SHViT layout -> the state dict of mmhybrid's MMPretrain
    ImageClassifier (``backbone.*``, ``head.bn.*``, ``head.l.*``)."""
    out = OrderedDict()
    for k, v in shvit_convert(state_dict).items():
        out[k if k.startswith('head.') else f'backbone.{k}'] = v
    return out


# CSWin: mmhybrid keeps the official names (segmentation backbone and ImageNet
# classifier share them; the classifier adds ``norm``/``head`` and lacks the
# per-output ``norm1..norm4``).
_CSWIN_OUT_NORM = re.compile(r'norm[1-4]\.(weight|bias)$')


def cswin_out_norm_keys(state_dict):
    """The keys of the per-output LayerNorms ``norm1..norm4`` (top level
    only; the blocks' own ``stageK.j.norm1`` do not count)."""
    return [k for k in state_dict if _CSWIN_OUT_NORM.match(k)]


def cswin_layout(state_dict):
    """Return 'mmhybrid' (``backbone.`` prefixed, as saved by
    mmseg/mmdet/mmpretrain), 'imagenet' (official classifier: ``head``, no
    ``norm1..norm4``) or 'backbone' (official segmentation backbone)."""
    if any(k.startswith('backbone.') for k in state_dict):
        return 'mmhybrid'
    if not cswin_out_norm_keys(state_dict) and (
            'head.weight' in state_dict or 'norm.weight' in state_dict):
        return 'imagenet'
    return 'backbone'


def cswin_convert(state_dict):
    """Any supported CSWin layout -> the official backbone names used by
    :class:`mmhybrid.models.CSWin`. Official layouts pass unchanged (an
    ImageNet checkpoint keeps ``norm``/``head``, which the backbone skips);
    from ``backbone.``-prefixed checkpoints only the backbone is kept."""
    if cswin_layout(state_dict) == 'mmhybrid':
        return OrderedDict((k[len('backbone.'):], v)
                           for k, v in state_dict.items()
                           if k.startswith('backbone.'))
    return OrderedDict(state_dict)


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


def cswin_classifier_convert(state_dict):
    """An upstream GA-CSWin classifier state dict -> mmhybrid's
    ImageClassifier keys (CSWin backbone + GAHead); None for any other
    layout. (Plain CSWin ImageNet classifiers have no mmhybrid classifier
    config; their backbone loads through ``init_cfg``.)"""
    if ga_cswin_layout(state_dict) != 'upstream':
        return None
    return ga_cswin_to_mmpretrain(state_dict)


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


def ga_convnext_classifier_convert(state_dict):
    """An official GA-ConvNeXt classifier state dict -> mmhybrid's
    ImageClassifier keys; None for any other layout (``GAHead``'s
    ``convert_classifier_checkpoint``: MMPretrain's ConvNeXt has none)."""
    if ga_convnext_layout(state_dict) != 'upstream':
        return None
    return ga_convnext_to_mmpretrain(state_dict)
