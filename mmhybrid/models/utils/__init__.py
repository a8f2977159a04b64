from .checkpoint import (CheckpointMismatchError, load_checked_state_dict,
                         load_model_checkpoint, load_pretrained,
                         read_state_dict)
# each family's converters live in its model file; these find them
from .ckpt_convert import (ClassifierConverter, classifier_converters,
                           first_conversion)
from .checkpoint import upgrade_classifier_checkpoint

__all__ = ['CheckpointMismatchError', 'load_checked_state_dict',
           'load_model_checkpoint', 'load_pretrained', 'read_state_dict',
           'ClassifierConverter', 'classifier_converters',
           'first_conversion', 'upgrade_classifier_checkpoint']
from .init import CheckedPretrainedInit  # registers 'CheckedPretrained'

__all__ += ['CheckedPretrainedInit']
