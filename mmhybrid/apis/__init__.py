from .runner import (TASKS, add_common_args, build_runner, config_task,
                     load_config, parse_common_args, summarize_metrics)

__all__ = ['TASKS', 'add_common_args', 'parse_common_args', 'build_runner', 'config_task', 'load_config',
           'summarize_metrics']
