"""How a family declares its checkpoint converters, and how they are found.

A family's converters live in its own model file (as timm's
``checkpoint_filter_fn``): the backbone's ``convert_checkpoint`` (upstream
backbone layouts -> ours) and, for released classifiers, one
:class:`ClassifierConverter` per upstream classifier layout, listed in the
``classifier_converters`` attribute of the class that owns them (a backbone
or a head). Nothing here names a family: :func:`classifier_converters` walks
mmhybrid's registry, so a new family's converters are found as soon as its
model file is imported.
"""
from collections import OrderedDict


class ClassifierConverter:
    """One upstream classifier layout of a family -> the state dict of
    mmhybrid's MMPretrain ``ImageClassifier`` (``backbone.*``, ``head.*``).

    Args:
        family (str): the family's name as users say it (``'SHViT'``); the
            ``--family`` of ``tools/model_converters/convert.py`` is its
            lower-case form.
        detect (callable): ``state_dict -> str | None``: the layout found
            (e.g. ``'official'``, ``'timm'``), ``'mmhybrid'`` for a state
            dict already in our layout, None when the state dict is not this
            family's classifier.
        convert (callable): ``state_dict -> state_dict`` for a detected
            upstream layout.
        expects (str): what a state dict of this family has, for errors
            (e.g. ``'patch_embed.* keys'``).
    """

    def __init__(self, family, detect, convert, expects):
        self.family = family
        self.detect = detect
        self.convert = convert
        self.expects = expects

    @property
    def name(self):
        return self.family.lower()

    def __call__(self, state_dict):
        """The converted state dict, or None when ``state_dict`` is not an
        upstream classifier of this family (ours included)."""
        if self.detect(state_dict) in (None, 'mmhybrid'):
            return None
        return OrderedDict(self.convert(state_dict))

    def __repr__(self):
        return f'ClassifierConverter({self.family!r})'


def first_conversion(converters):
    """``state_dict -> state_dict | None``: the result of the first of
    ``converters`` that converts ``state_dict`` (a class's
    ``convert_classifier_checkpoint`` when it owns several)."""
    converters = tuple(converters)

    def convert(state_dict):
        for converter in converters:
            out = converter(state_dict)
            if out is not None:
                return out
        return None

    return convert


def classifier_converters(registry=None):
    """``{name: ClassifierConverter}`` of every class in mmhybrid's MODELS
    registry (``registry`` to walk another) that declares
    ``classifier_converters``; imports :mod:`mmhybrid.models` first so
    mmhybrid's own families are registered."""
    if registry is None:
        import importlib
        importlib.import_module('mmhybrid.models')  # registers families
        from mmhybrid.registry import MODELS as registry
    found = OrderedDict()
    for cls in registry.module_dict.values():
        for converter in getattr(cls, 'classifier_converters', ()) or ():
            if found.get(converter.name, converter) is not converter:
                raise KeyError(f'two classifier converters are named '
                               f'{converter.name!r}')
            found[converter.name] = converter
    return OrderedDict(sorted(found.items()))


def strip_prefix(state_dict, prefix='backbone.'):
    """The keys under ``prefix``, with it removed."""
    return OrderedDict((k[len(prefix):], v) for k, v in state_dict.items()
                       if k.startswith(prefix))
