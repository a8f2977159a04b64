from .runner import (TASKS, build_runner, config_task, load_config,
                     summarize_metrics)

__all__ = ['TASKS', 'build_runner', 'config_task', 'load_config',
           'summarize_metrics']
