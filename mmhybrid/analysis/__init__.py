"""What the analysis tools compute, as a library (as mmdet keeps
``mmdet/utils/benchmark.py``): the timing protocol and the GEMM roofline
(:mod:`.timing`), model and whole-predict benchmarks with timm's same model
(:mod:`.benchmark`), their tables and plots (:mod:`.tables`), params and
FLOPs and the README's tables (:mod:`.complexity`), training logs
(:mod:`.logs`), the demo runner (:mod:`.demo`), the onnxruntime /
PyTorch speed of whole exported models (:mod:`.onnx_speed`) and the
training step of whole models with its peak memory (:mod:`.train_timing`).
``tools/analysis_tools/*`` and ``tools/run_demo.py`` parse arguments and
call these."""
from .benchmark import (BenchmarkError, TimedPredict, benchmark_models,
                        benchmark_task, build_targets, form_name,
                        prepare_model, task_config, task_forms, timm_model)
from .complexity import (MODEL_TABLE_MARKERS, RECIPES_MARKERS,
                         classifier_configs, complexity_report,
                         config_input_size, measure_complexity,
                         measure_config, model_table_markdown,
                         recipes_markdown, replace_between)
from .demo import (DEMO_JOBS, DemoError, check_jobs, demo_summary,
                   flat_metrics, run_demo, run_job, toy_configs,
                   write_demo_summary)
from .logs import (LogError, available_keys, cal_train_time, key_series,
                   load_json_log, plot_curve, resolve_log, train_time_report)
from .mmcv_ext_usage import (dense_prediction_configs,
                             mmcv_ext_calls_of_config, mmcv_ext_usage_table)
from .onnx_speed import benchmark_onnx, onnx_table
from .tables import (load_results, plot_accuracy_throughput, save_results,
                     task_table, throughput_table, train_table)
from .timing import (DTYPES, GEMM_MKN, Timed, gemm_rate, gemm_timers,
                     peak_memory_mb, reset_peak_memory, run_window,
                     setup_device, summarize_times, sync)
from .train_timing import (PEAK_MEMORY_KINDS, TimedTrainStep,
                           benchmark_train, train_batch, train_input_size)

__all__ = [
    'BenchmarkError', 'TimedPredict', 'benchmark_models', 'benchmark_task',
    'build_targets', 'form_name', 'prepare_model', 'task_config',
    'task_forms', 'timm_model', 'MODEL_TABLE_MARKERS', 'RECIPES_MARKERS',
    'classifier_configs', 'complexity_report', 'config_input_size',
    'measure_complexity', 'measure_config', 'model_table_markdown',
    'recipes_markdown', 'replace_between', 'DEMO_JOBS', 'DemoError',
    'check_jobs', 'demo_summary', 'flat_metrics', 'run_demo', 'run_job',
    'toy_configs', 'write_demo_summary', 'LogError', 'available_keys',
    'cal_train_time', 'key_series', 'load_json_log', 'plot_curve',
    'resolve_log', 'train_time_report', 'benchmark_onnx', 'onnx_table',
    'load_results',
    'plot_accuracy_throughput', 'save_results', 'task_table',
    'throughput_table', 'DTYPES', 'GEMM_MKN', 'Timed', 'gemm_rate',
    'gemm_timers', 'peak_memory_mb', 'reset_peak_memory', 'run_window',
    'setup_device', 'summarize_times', 'sync', 'PEAK_MEMORY_KINDS',
    'TimedTrainStep', 'benchmark_train', 'train_batch', 'train_input_size',
    'train_table', 'dense_prediction_configs', 'mmcv_ext_calls_of_config',
    'mmcv_ext_usage_table'
]
