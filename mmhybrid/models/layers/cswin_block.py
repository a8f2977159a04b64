"""CSWin Transformer blocks (Dong et al., CVPR 2022): the cross-shaped
stripe attention with LePE and the pre-norm block around it.

Shared by the CSWin backbone (:class:`mmhybrid.models.CSWin`) and the
Gramian-attention head (:class:`mmhybrid.models.GAHead`). Parameter names
follow the official code (``qkv``, ``proj``, ``attns.{0,1}.get_v``,
``norm1``/``norm2``, ``mlp.fc1``/``mlp.fc2``).

When a side is not a multiple of the stripe width, q/k/v are zero-padded
symmetrically after the ``qkv`` Linear, the stripes run without a mask and
the result is cropped back (as the official segmentation backbone does).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath

from .attention_map import AttentionMap

__all__ = ['LePEAttention', 'Mlp', 'CSWinBlock']


class LePEAttention(nn.Module):
    """Self-attention inside stripes plus the locally-enhanced positional
    encoding (a 3x3 depthwise conv on v, per stripe).

    Args:
        dim (int): channels of this branch.
        num_heads (int): heads of this branch.
        split_size (int): stripe width.
        idx (int): 0 vertical stripes (full height x ``split_size``),
            1 horizontal stripes (``split_size`` x full width), -1 one window
            over the whole map (global attention).
    """

    def __init__(self, dim, num_heads, split_size=7, idx=-1):
        super().__init__()
        if idx not in (-1, 0, 1):
            raise ValueError(f'idx must be -1, 0 or 1, got {idx}')
        self.dim = dim
        self.num_heads = num_heads
        self.split_size = split_size
        self.idx = idx
        self.scale = (dim // num_heads)**-0.5
        self.get_v = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)
        self.attn_map = AttentionMap('cswin')

    def window_size(self, H, W):
        if self.idx == -1:
            return H, W
        if self.idx == 0:
            return H, self.split_size
        return self.split_size, W

    def _to_heads(self, x, H_sp, W_sp):
        # B, C, H, W -> B*nW, heads, H_sp*W_sp, C/heads
        B, C, H, W = x.shape
        x = x.reshape(B, C, H // H_sp, H_sp, W // W_sp, W_sp)
        x = x.permute(0, 2, 4, 3, 5, 1).reshape(-1, H_sp * W_sp,
                                                self.num_heads,
                                                C // self.num_heads)
        return x.transpose(1, 2)

    def _lepe(self, v, H_sp, W_sp):
        # v: B, C, H, W -> (windows as images B*nW, C, H_sp, W_sp), and both
        # v and LePE as B*nW, heads, H_sp*W_sp, C/heads
        B, C, H, W = v.shape
        v = v.reshape(B, C, H // H_sp, H_sp, W // W_sp, W_sp)
        v = v.permute(0, 2, 4, 1, 3, 5).reshape(-1, C, H_sp, W_sp)
        lepe = self.get_v(v)
        heads, d = self.num_heads, C // self.num_heads
        lepe = lepe.reshape(-1, heads, d, H_sp * W_sp).transpose(-2, -1)
        v = v.reshape(-1, heads, d, H_sp * W_sp).transpose(-2, -1)
        return v, lepe

    def forward(self, qkv):
        """qkv: B, 3, C, H, W (q, k, v stacked) -> B, H*W, C."""
        B, _, C, H, W = qkv.shape
        H_sp, W_sp = self.window_size(H, W)
        H_pad = (H_sp - H % H_sp) % H_sp
        W_pad = (W_sp - W % W_sp) % W_sp
        top, left = H_pad // 2, W_pad // 2
        if H_pad or W_pad:
            qkv = F.pad(qkv, (left, W_pad - left, top, H_pad - top))
        Hp, Wp = H + H_pad, W + W_pad
        q, k, v = qkv.unbind(1)
        q = self._to_heads(q, H_sp, W_sp) * self.scale
        k = self._to_heads(k, H_sp, W_sp)
        v, lepe = self._lepe(v, H_sp, W_sp)
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        attn = self.attn_map(attn, kind='windows', batch=B, hw=(H, W),
                             padded=(Hp, Wp), window=(H_sp, W_sp),
                             offset=(top, left))
        x = attn @ v + lepe  # B*nW, heads, H_sp*W_sp, C/heads
        x = x.transpose(1, 2).reshape(B, Hp // H_sp, Wp // W_sp, H_sp, W_sp,
                                      C)
        x = x.permute(0, 1, 3, 2, 4, 5).reshape(B, Hp, Wp, C)
        x = x[:, top:top + H, left:left + W]
        return x.reshape(B, H * W, C)


class Mlp(nn.Module):
    """Linear, GELU, Linear."""

    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class CSWinBlock(nn.Module):
    """Pre-norm CSWin block on tokens ``x`` (B, H*W, C) of an H x W map.

    Two branches (vertical and horizontal stripes, half of the channels and
    heads each), or with ``last_stage=True`` one branch of global attention.
    """

    def __init__(self,
                 dim,
                 num_heads,
                 split_size=7,
                 mlp_ratio=4.,
                 qkv_bias=True,
                 drop_path=0.,
                 last_stage=False):
        super().__init__()
        self.dim = dim
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.norm1 = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, dim)
        if last_stage:
            self.attns = nn.ModuleList(
                [LePEAttention(dim, num_heads, split_size, idx=-1)])
        else:
            if dim % 2 or num_heads % 2:
                raise ValueError(f'a two-branch CSWin block needs even dim '
                                 f'and heads, got {dim} and {num_heads}')
            self.attns = nn.ModuleList([
                LePEAttention(dim // 2, num_heads // 2, split_size, idx=i)
                for i in range(2)
            ])
        self.drop_path = DropPath(drop_path) if drop_path > 0. \
            else nn.Identity()
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x, hw_shape):
        H, W = hw_shape
        B, L, C = x.shape
        if L != H * W:
            raise ValueError(f'{L} tokens do not form a {H}x{W} map')
        # B, N, 3C -> B, 3, C, H, W
        qkv = self.qkv(self.norm1(x)).reshape(B, H, W, 3, C).permute(
            0, 3, 4, 1, 2)
        if len(self.attns) == 2:
            attended = torch.cat([
                self.attns[0](qkv[:, :, :C // 2]),
                self.attns[1](qkv[:, :, C // 2:])
            ], dim=2)
        else:
            attended = self.attns[0](qkv)
        x = x + self.drop_path(self.proj(attended))
        return x + self.drop_path(self.mlp(self.norm2(x)))
