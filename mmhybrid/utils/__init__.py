"""Model utilities: ``switch_to_deploy(model)`` switches every backbone and
head of a model to its deploy form (the passes: :mod:`mmhybrid.models.deploy`;
building models: :mod:`mmhybrid.apis`)."""
from mmhybrid.models.deploy import switch_to_deploy

__all__ = ['switch_to_deploy']
