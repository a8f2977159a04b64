from .inference import (ImagePredictor, ImageReadError,
                        checkpoint_dataset_meta, draw_topk, list_images,
                        read_image, save_png)
from .runner import (TASKS, add_common_args, add_trust_arg, apply_trust_arg,
                     build_runner, check_data_roots, config_task,
                     load_config, parse_common_args, run_cli,
                     summarize_metrics)

__all__ = [
    'TASKS', 'add_common_args', 'add_trust_arg', 'apply_trust_arg',
    'parse_common_args', 'build_runner', 'check_data_roots', 'config_task',
    'load_config', 'run_cli', 'summarize_metrics', 'ImagePredictor', 'ImageReadError',
    'checkpoint_dataset_meta', 'draw_topk', 'list_images', 'read_image',
    'save_png'
]
