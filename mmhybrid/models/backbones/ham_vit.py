"""HAM-ViT: three depthwise-separable conv layers, a Hybrid Attention Module
(:class:`~mmhybrid.models.layers.HAM`) with a residual, and a small Vision
Transformer (patch embedding, encoder blocks); a small image classifier of
about 2M parameters (the HAM-ViT project README).

With ``neck=dict(type='GlobalAveragePooling')`` and mmpretrain's
``StackedLinearClsHead(mid_channels=[256, 128], dropout_rate=0.3)`` it is the
README's whole model: global average pool and a 3-layer fully connected
classifier with dropout 0.3.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import ModuleList
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones.vision_transformer import \
    TransformerEncoderLayer
from mmpretrain.models.utils import resize_pos_embed

from ...registry import register_model
from ..layers import HAM, Conv2dBN
from .base import HybridBackbone


class DepthwiseSeparableConv(nn.Sequential):
    """Depthwise 3x3 conv + BN + ReLU, pointwise 1x1 conv + BN + ReLU; the
    depthwise conv carries the stride."""

    def __init__(self, in_channels, out_channels, stride=2):
        super().__init__()
        self.add_module('dw', Conv2dBN(in_channels, in_channels, 3, stride, 1,
                                       groups=in_channels))
        self.add_module('act1', nn.ReLU())
        self.add_module('pw', Conv2dBN(in_channels, out_channels))
        self.add_module('act2', nn.ReLU())


@register_model
class HAMViT(HybridBackbone):
    """HAM-ViT backbone.

    ``stem`` (three stride-2 depthwise-separable convs, stride 8) ->
    ``x + HAM(x)`` -> ``patch_embed`` (a ``patch_size`` conv) + learned
    position embedding -> transformer encoder ``layers`` -> LayerNorm.
    Position embeddings are learned for ``img_size`` and resized (bicubic)
    for other inputs.

    Args:
        arch (str | dict): 'base' or a dict with keys ``stem_channels``
            (3 ints), ``embed_dims``, ``num_layers``, ``num_heads``,
            ``mlp_ratio``.
        img_size (int): training input size of the position embedding.
            Defaults to 224.
        patch_size (int): patch size on the stride-8 conv features (2 gives
            stride 16). Defaults to 2.
        in_channels (int): input channels. Defaults to 3.
        separation_rate (float): HAM's lambda. Defaults to 0.5 (the seed).
        drop_rate (float): dropout after the position embedding and in the
            FFNs. Defaults to 0.
        drop_path_rate (float): stochastic depth, linear over the layers.
        out_indices (Sequence[int]): 0 = the HAM-refined conv features
            (stride 8, ``stem_channels[-1]``), 1 = the transformer output as a
            map (stride ``8 * patch_size``, ``embed_dims``). Defaults to (1,).
        frozen_stages (int): -1 freezes nothing, 0 the stem and HAM, 1 also
            the transformer. Defaults to -1.
        norm_eval (bool): keep BatchNorms in eval mode while training.
        with_cp (bool): gradient checkpointing of the transformer layers.
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained',
            checkpoint=PATH, prefix='backbone.')``.
    """
    arch_zoo = {
        'base': dict(stem_channels=[32, 64, 128], embed_dims=192,
                     num_layers=4, num_heads=4, mlp_ratio=4.),
    }
    arch_keys = dict(stem_channels=3, embed_dims=None, num_layers=None,
                     num_heads=None, mlp_ratio=None)
    num_stages = 2

    def __init__(self,
                 arch='base',
                 img_size=224,
                 patch_size=2,
                 in_channels=3,
                 separation_rate=0.5,
                 drop_rate=0.,
                 drop_path_rate=0.,
                 out_indices=(1, ),
                 frozen_stages=-1,
                 norm_eval=False,
                 with_cp=False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        arch = self._init_contract(arch, out_indices, frozen_stages,
                                   norm_eval, with_cp,
                                   'HAM conv features, transformer output',
                                   num_frozen=self.num_stages - 1)
        self.patch_size = patch_size
        self.embed_dims = embed_dims = arch['embed_dims']

        chs = [in_channels] + list(arch['stem_channels'])
        self.stem = nn.Sequential(*[
            DepthwiseSeparableConv(chs[i], chs[i + 1], stride=2)
            for i in range(3)
        ])
        self.ham = HAM(chs[-1], separation_rate=separation_rate)

        self.patch_embed = nn.Conv2d(chs[-1], embed_dims, patch_size,
                                     patch_size)
        grid = img_size // 8 // patch_size
        self.patch_resolution = (grid, grid)
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid, embed_dims))
        self.drop_after_pos = nn.Dropout(drop_rate)
        dpr = torch.linspace(0, drop_path_rate, arch['num_layers']).tolist()
        self.layers = ModuleList([
            TransformerEncoderLayer(
                embed_dims=embed_dims,
                num_heads=arch['num_heads'],
                feedforward_channels=int(embed_dims * arch['mlp_ratio']),
                drop_rate=drop_rate,
                drop_path_rate=dpr[i]) for i in range(arch['num_layers'])
        ])
        self.norm = nn.LayerNorm(embed_dims)
        self.out_channels = [[chs[-1], embed_dims][i]
                             for i in self.out_indices]
        self._freeze_stages()

    def init_weights(self):
        if self.load_pretrained_if_asked():
            return
        super().init_weights()
        trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, x):
        outs = []
        x = self.stem(x)
        x = x + self.ham(x)
        if 0 in self.out_indices:
            outs.append(x)
        x = self.patch_embed(x)
        B, C, H, W = x.shape
        x = x.flatten(2).transpose(1, 2)  # B, H*W, C
        x = x + self._pos_embed((H, W))
        x = self.drop_after_pos(x)
        for layer in self.layers:
            x = self._checkpointed(layer, x)
        x = self.norm(x)
        if 1 in self.out_indices:
            # contiguous NCHW: mmcv's ops (RoIAlign) misread transposed views
            outs.append(x.transpose(1, 2).reshape(B, C, H, W).contiguous())
        return tuple(outs)

    def stages(self):
        """The conv stage (stem; HAM refines its output) and the
        transformer layers."""
        return [self.stem, self.layers]

    def stage_info(self):
        return [dict(num_chs=self.arch['stem_channels'][-1], reduction=8,
                     module='ham'),
                dict(num_chs=self.embed_dims, reduction=8 * self.patch_size,
                     module='norm')]

    def _pos_embed(self, hw):
        """The position embedding for an (H, W) token grid, bicubically
        resized from the trained grid. While tracing (ONNX export) it is
        resized even at the trained size (bicubic at scale 1 is the
        identity), so that the exported graph follows the input size."""
        h0, w0 = self.patch_resolution
        if not torch.jit.is_tracing() or tuple(hw) != (h0, w0):
            return resize_pos_embed(self.pos_embed, self.patch_resolution,
                                    hw, mode='bicubic', num_extra_tokens=0)
        grid = self.pos_embed.reshape(1, h0, w0, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=hw, mode='bicubic',
                             align_corners=False)
        return grid.flatten(2).transpose(1, 2)

    def _frozen_modules(self):
        modules = [self.stem, self.ham]
        if self.frozen_stages >= 1:
            modules += [self.patch_embed, self.layers, self.norm]
            self.pos_embed.requires_grad = False
        return modules
