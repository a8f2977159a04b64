"""Whole-model speed of onnxruntime against PyTorch, per config: the file
exported through :mod:`mmhybrid.deploy` (or one given), timed by
:func:`mmhybrid.deploy.onnx.time_onnx_vs_torch` against the PyTorch deploy
form on the same input, with the same threads, in this process.
``tools/analysis_tools/benchmark.py --onnx`` prints :func:`onnx_table`."""
import os
import os.path as osp
import tempfile

from .benchmark import BenchmarkError, task_config

__all__ = ['benchmark_onnx', 'onnx_table']


def _prepare(path, cfg, onnx_file, shape, out_dir):
    """``(model in deploy form, onnx file, data, inputs)`` of one config:
    exported to ``out_dir`` when ``onnx_file`` is None."""
    from mmhybrid.apis import build_model
    from mmhybrid.deploy.onnx import (ExportError, build_deploy_config,
                                      create_input, export_model)
    from mmhybrid.deploy.onnx.runtime import onnx_output_names
    from mmhybrid.deploy import switch_to_deploy
    if onnx_file is None:
        name = osp.splitext(osp.basename(path))[0]
        onnx_file = osp.join(out_dir, name + '.onnx')
        try:
            r = export_model(cfg, onnx_file, shape=shape)
        except ExportError as e:
            raise BenchmarkError(f'--onnx: {path}: {e}') from e
        model, deploy_cfg = r.model, r.deploy_cfg
    else:
        if not osp.isfile(onnx_file):
            raise BenchmarkError(f'--onnx: no such file {onnx_file!r}')
        try:
            deploy_cfg = build_deploy_config(
                cfg, onnx_output_names(onnx_file), shape=shape)
        except ExportError as e:
            raise BenchmarkError(f'--onnx: {path}: {e}') from e
        model = build_model(cfg)
        switch_to_deploy(model)
        model.eval()
    data, inputs = create_input(cfg, deploy_cfg, model, shape=shape)
    return model, onnx_file, data, inputs


def _detections(onnx_file, inputs, threads):
    """Detections the file keeps on ``inputs`` (None for a segmentor)."""
    from mmhybrid.deploy.onnx import onnx_session, run_session
    sess = onnx_session(onnx_file, threads)
    names = [o.name for o in sess.get_outputs()]
    if 'dets' not in names:
        return None
    outputs = run_session(sess, inputs)
    return int(outputs[names.index('dets')].shape[1])


def benchmark_onnx(configs, onnx_files=None, shape=None, threads=1,
                   score_thr=None, repeats=5, warmup=1, out_dir=None):
    """One row per config (detector or segmentor): the median latency of
    PyTorch's ``predict`` (deploy form) and of onnxruntime on the same
    preprocessed photograph (:func:`mmhybrid.deploy.onnx.sample_image`)
    resized to ``shape`` (H, W; default the config's test resize), and
    ``ratio`` = PyTorch / onnxruntime (> 1: onnxruntime is faster).

    ``onnx_files``: one existing file per config (exported from it at that
    size); else each config is exported (to ``out_dir``, default a temporary
    folder removed afterwards). ``score_thr`` overrides the detector's test
    score threshold (0: ``max_per_img`` detections, a trained model's
    load) in both runtimes.

    Returns ``[dict(model, config, shape, threads, detections, torch_ms,
    onnx_ms, ratio, onnx)]``."""
    from mmhybrid.deploy.onnx import time_onnx_vs_torch
    if onnx_files and len(onnx_files) != len(configs):
        raise BenchmarkError(f'--onnx: {len(onnx_files)} file(s) for '
                             f'{len(configs)} config(s); give one per '
                             'config or none (export)')
    if threads is None or threads < 1:
        raise BenchmarkError('--onnx needs --threads N (N >= 1): both '
                             'runtimes run with the same threads')
    shape = None if not shape else (int(shape[0]), int(shape[-1]))
    tmp = None
    if out_dir is None and not onnx_files:
        tmp = tempfile.TemporaryDirectory(prefix='mmhybrid_onnx_')
        out_dir = tmp.name
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
    rows = []
    try:
        for i, path in enumerate(configs):
            cfg = task_config(path, score_thr)
            model, onnx_file, data, inputs = _prepare(
                path, cfg, onnx_files[i] if onnx_files else None, shape,
                out_dir)
            try:
                t = time_onnx_vs_torch(model, onnx_file, inputs,
                                       data['data_samples'], threads=threads,
                                       repeats=repeats, warmup=warmup)
            except Exception as e:  # noqa: BLE001  (wrong size, file)
                raise BenchmarkError(
                    f'--onnx: {onnx_file} does not run on {path}\'s input '
                    f'{tuple(inputs.shape)}: {str(e)[:300]}') from e
            rows.append(dict(
                model=osp.splitext(osp.basename(path))[0], config=path,
                shape=list(inputs.shape[-2:]), threads=t['threads'],
                detections=_detections(onnx_file, inputs, threads),
                torch_ms=t['torch_ms'], onnx_ms=t['onnx_ms'],
                ratio=t['torch_ms'] / t['onnx_ms'],
                onnx=None if tmp else onnx_file))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return rows


def onnx_table(rows):
    """Markdown table of :func:`benchmark_onnx` rows."""
    lines = ['| model | input | threads | dets | PyTorch deploy ms | '
             'onnxruntime ms | onnxruntime / PyTorch |',
             '|---|---|---|---|---:|---:|---:|']
    for r in rows:
        dets = '-' if r['detections'] is None else r['detections']
        lines.append(
            f"| {r['model']} | {r['shape'][0]}x{r['shape'][1]} | "
            f"{r['threads']} | {dets} | {r['torch_ms']:.1f} | "
            f"{r['onnx_ms']:.1f} | {r['ratio']:.2f}x |")
    return '\n'.join(lines)
