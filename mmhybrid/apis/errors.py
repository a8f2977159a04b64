"""The mistakes a user's input can make, as exceptions whose message names
the file or key, and :func:`run_cli`, which ends a tool on one of them with
that message and exit code 1 instead of a traceback."""
import sys

__all__ = ['ConfigError', 'ImageReadError', 'MetricError', 'AnnotationError',
           'OutputPathError', 'user_errors', 'run_cli']


class ConfigError(ValueError):
    """A config that cannot mean what its author wanted: a misspelt
    top-level key, an unknown ``type``, argument or arch. The message names
    the key."""


class ImageReadError(ValueError):
    """An input file is not an image that can be decoded, or not one the
    model can take."""


class MetricError(RuntimeError):
    """The evaluation gave no usable headline metric."""


class AnnotationError(ValueError):
    """An annotation file that cannot give meaningful metrics."""


class OutputPathError(OSError):
    """An output path that cannot be written."""


def user_errors():
    """The exception classes that mean a user's mistake (a missing or
    unsafe file, an image that cannot be decoded, a config key, type,
    argument or arch that does not exist, a checkpoint that does not fit,
    a result that is no result)."""
    from mmhybrid.engine.safe_load import (NotACheckpointError,
                                           UntrustedCheckpointError)
    from mmhybrid.models.backbones.base import BackboneArgumentError
    from mmhybrid.models.utils.checkpoint import CheckpointMismatchError
    return (FileNotFoundError, ImageReadError, UntrustedCheckpointError,
            NotACheckpointError, CheckpointMismatchError, MetricError,
            AnnotationError, OutputPathError, ConfigError,
            BackboneArgumentError)


def run_cli(main, prog):
    """Run a tool's ``main``. A user's mistake (:func:`user_errors`) ends
    with its message on stderr and exit code 1 instead of a traceback."""
    try:
        main()
    except user_errors() as e:
        print(f'{prog}: error: {e}', file=sys.stderr)
        return 1
    return 0
