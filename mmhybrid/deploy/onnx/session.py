"""onnxruntime sessions of exported files, and the export error: a message
that names the op (of the exporter's or onnxruntime's error) when there is
one."""
import re

import torch


class ExportError(RuntimeError):
    """An export that cannot be done, with the reason in words."""


_OP_PATTERNS = [
    r"running (\w+ node\. Name:'[^']*')",
    r"operator '([\w:.]+)'",
    r'ONNX export of operator ([\w ]+?)[,.]',
    r'(aten::\w+(?:\.\w+)?)',
    r'(prim::\w+)',
    r"op_type:?\s*'?(\w+)'?",
    r'NOT_IMPLEMENTED.*?(\w+)\(',
    r'(\w+::\w+)\(-?\d+\) is not a registered function/op',
]


def _short(msg, n=400):
    msg = msg.strip().splitlines()[0] if msg.strip() else msg
    return msg if len(msg) <= n else msg[:n] + '...'


def failing_op(msg):
    """The operator an export or onnxruntime error names, if any."""
    for pat in _OP_PATTERNS:
        m = re.search(pat, msg)
        if m:
            return m.group(1)
    return None


def onnx_session(path, threads=None, providers=None):
    """An onnxruntime session of ``path`` (``threads`` intra-op threads;
    default: onnxruntime's own choice)."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    so.log_severity_level = 4  # the error is raised below, once
    try:
        return ort.InferenceSession(
            path, so, providers=providers or ['CPUExecutionProvider'])
    except Exception as e:  # noqa: BLE001
        op = failing_op(str(e))
        raise ExportError(f'onnxruntime cannot run {path}'
                          + (f' (op {op})' if op else '')
                          + f': {_short(str(e))}') from e


def run_session(sess, x):
    """``sess`` on the NCHW input ``x``: its outputs as numpy arrays; an
    error names the failing op and the input shape."""
    x = x.numpy() if isinstance(x, torch.Tensor) else x
    try:
        return sess.run(None, {sess.get_inputs()[0].name: x})
    except Exception as e:  # noqa: BLE001
        op = failing_op(str(e))
        raise ExportError(f'onnxruntime cannot run it at input '
                          f'{tuple(x.shape)}'
                          + (f' (op {op})' if op else '')
                          + f': {_short(str(e))}') from e
