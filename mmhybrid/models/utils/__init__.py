from .checkpoint import (CheckpointMismatchError, load_checked_state_dict,
                         load_model_checkpoint, load_pretrained,
                         read_state_dict)
from .ckpt_convert import (cswin_convert, cswin_layout, cswin_out_norm_keys,
                           shvit_convert, shvit_timm_to_official,
                           shvit_to_mmpretrain)
from .ckpt_convert import ga_cswin_layout, ga_cswin_to_mmpretrain
from .ckpt_convert import cswin_classifier_convert, shvit_classifier_convert
from .checkpoint import upgrade_classifier_checkpoint

__all__ = ['CheckpointMismatchError', 'load_checked_state_dict',
           'load_model_checkpoint', 'load_pretrained', 'read_state_dict', 'shvit_convert',
           'shvit_to_mmpretrain',
           'shvit_timm_to_official', 'cswin_convert', 'cswin_layout',
           'cswin_out_norm_keys']
__all__ += ['ga_cswin_layout', 'ga_cswin_to_mmpretrain']
__all__ += ['cswin_classifier_convert', 'shvit_classifier_convert',
            'upgrade_classifier_checkpoint']
from .ckpt_convert import (ga_convnext_classifier_convert, ga_convnext_layout,
                           ga_convnext_to_mmpretrain)

__all__ += ['ga_convnext_classifier_convert', 'ga_convnext_layout',
            'ga_convnext_to_mmpretrain']
from .init import CheckedPretrainedInit  # registers 'CheckedPretrained'

__all__ += ['CheckedPretrainedInit']
