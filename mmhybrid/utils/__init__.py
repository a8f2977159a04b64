"""Model utilities: ``switch_to_deploy(model)`` switches every backbone and
head of a model to its deploy form. (Building models: :mod:`mmhybrid.apis`.)"""
from .deploy import switch_to_deploy

__all__ = ['switch_to_deploy']
