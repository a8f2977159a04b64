"""The front door of mmhybrid: load a config, build a model (from a config or
a backbone type and arch), load a checkpoint, run it (Runner, inferencers,
tensor forward). Every tool in ``tools/`` goes through it."""
from .checks import (check_coco_annotations, check_coco_classes,
                     check_coco_file, check_metrics)
from .errors import (AnnotationError, ConfigError, ImageReadError, MetricError,
                     OutputPathError, run_cli)
from .explain import explain_errors
from .files import check_writable, save_atomic
from .images import list_images, read_image
from .inference import MAX_SIZE, ImagePredictor, save_png
from .model import (TensorForward, build_model, count_complexity, get_model,
                    list_models, search_models)
from .predict import (check_predict_inputs, describe_prediction,
                      output_names, predict_images)
from .protocol import apply_eval_protocol
from .runner import (TASKS, add_common_args, add_trust_arg, apply_trust_arg,
                     build_runner, check_data_roots, config_task,
                     load_config, parse_common_args, summarize_metrics,
                     test_resolution)
from .training import prepare_training, train

__all__ = [
    'TASKS', 'ConfigError', 'explain_errors', 'add_common_args', 'add_trust_arg', 'apply_trust_arg',
    'parse_common_args', 'build_runner', 'check_data_roots', 'config_task',
    'load_config', 'run_cli', 'summarize_metrics', 'test_resolution',
    'build_model', 'get_model', 'list_models', 'search_models', 'TensorForward', 'count_complexity', 'ImagePredictor',
    'ImageReadError', 'list_images', 'read_image', 'save_png'
]
__all__ += [
    'AnnotationError', 'MetricError', 'check_coco_annotations', 'check_coco_classes',
    'check_coco_file', 'check_metrics', 'OutputPathError', 'check_writable',
    'save_atomic'
]
__all__ += ['apply_eval_protocol']
from .convert import (checkpoint_families, convert_checkpoint,  # noqa: E402
                      convert_classifier_state_dict)

__all__ += ['checkpoint_families', 'convert_checkpoint',
            'convert_classifier_state_dict']
from .backbone_args import add_backbone_args, registered_backbones  # noqa: E402,E501

__all__ += ['add_backbone_args', 'registered_backbones']
from .robustness import (eval_robustness, parse_eps,  # noqa: E402
                         robustness_table)

__all__ += ['eval_robustness', 'parse_eps', 'robustness_table']
__all__ += ['MAX_SIZE', 'check_predict_inputs', 'describe_prediction',
            'output_names', 'predict_images', 'prepare_training', 'train']
from .attention import grad_cam, visualize_attention  # noqa: E402

__all__ += ['grad_cam', 'visualize_attention']
