"""Helpers shared by the analysis tools (benchmark, FLOPs, model table)."""
from .model_builder import (build_backbone, build_from_config, count_complexity,
                            load_model_config, switch_to_deploy,
                            test_resolution, timm_counterpart)

__all__ = [
    'build_backbone', 'build_from_config', 'count_complexity',
    'load_model_config', 'switch_to_deploy', 'test_resolution',
    'timm_counterpart'
]
