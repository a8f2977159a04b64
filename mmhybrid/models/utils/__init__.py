from .checkpoint import load_checked_state_dict, read_state_dict
from .ckpt_convert import shvit_convert, shvit_timm_to_official

__all__ = ['load_checked_state_dict', 'read_state_dict', 'shvit_convert',
           'shvit_timm_to_official']
