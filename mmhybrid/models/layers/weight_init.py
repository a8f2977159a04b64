"""The ViT-style initialisation CSWin and the GA head share."""
import torch.nn as nn
from mmengine.model.weight_init import trunc_normal_


def init_transformer_weights(module):
    """Every Linear under ``module``: truncated normal (std 0.02), zero bias;
    every LayerNorm: weight 1, bias 0 (the official CSWin/GA init)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
