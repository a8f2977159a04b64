"""mmhybrid: hybrid CNN-Transformer backbones for MMPretrain, MMDetection and
MMSegmentation."""
from .engine.compat import patch_stack

__version__ = '0.1.0'

# Importing mmhybrid (which every config does through ``custom_imports``) fixes
# the known incompatibilities of the OpenMMLab stack with current torch.
patch_stack()

__all__ = ['__version__', 'patch_stack']
