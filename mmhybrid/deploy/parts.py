"""The parts of an OpenMMLab model, described once.

An mmdet detector, mmseg segmentor or mmpretrain classifier names its parts
by convention: ``data_preprocessor``, ``backbone``, ``neck``, the dense heads
(``rpn_head``, a one-stage detector's ``bbox_head``), the RoI head
(``roi_head`` with its ``bbox_roi_extractor`` / ``bbox_head`` /
``mask_roi_extractor`` / ``mask_head``), the segmentor's ``decode_head`` /
``auxiliary_head`` and the classifier's ``head``. :data:`ROLES` says, per
role, what each user of that knowledge needs:

* deploy (:func:`~mmhybrid.deploy.switch_to_deploy`): which parts are
  switched to their deploy form;
* bf16 (:func:`~mmhybrid.deploy.enable_bf16`): which module's outputs are
  cast back to float32 (the part itself, or for mmseg's decode heads, whose
  ``predict`` calls ``self.forward`` past the hooks, their ``conv_seg``);
* part timing (:class:`mmhybrid.apis.task_timing.PartTimer`): what is
  timed and under which label;
* the predictor (:class:`mmhybrid.apis.ImagePredictor`): which head says
  how many classes the model predicts.

:func:`model_parts` finds the parts of a model.
"""
from dataclasses import dataclass

import torch.nn as nn

__all__ = ['Part', 'Role', 'ROLES', 'PART_NAMES', 'model_parts',
           'part_num_classes']


@dataclass(frozen=True)
class Role:
    """What a kind of model part is to each user of :data:`ROLES`.

    Args:
        deploy (bool): :func:`~mmhybrid.deploy.switch_to_deploy` switches
            it (its own ``switch_to_deploy()``, else the deploy passes).
        bf16 (str | None): the module whose outputs the bf16 mode casts
            back to float32: ``''`` the part itself, else a child's name;
            None: none.
        timed (tuple): ``(how, label suffix)`` pairs that part timing
            records: ``how`` is ``'call'`` (the module's ``__call__``) or a
            method name; the label is the part's name (a RoI head's member:
            ``roi_label``) plus the suffix.
        classes (int | None): rank of this role when asking a model how
            many classes it predicts (lowest first); None: not asked.
        roi_label (str | None): the timing label of a RoI head's member
            (a sub-part of the RoI head).
    """
    deploy: bool = False
    bf16: str = None
    timed: tuple = ()
    classes: int = None
    roi_label: str = None


#: role -> :class:`Role`
ROLES = {
    'data_preprocessor': Role(timed=(('call', ''), )),
    'backbone': Role(deploy=True, bf16='', timed=(('call', ''), )),
    'neck': Role(deploy=True, bf16='', timed=(('call', ''), )),
    'dense_head': Role(deploy=True, bf16='',
                       timed=(('predict', ''), ('call', '.convs')),
                       classes=3),
    'roi_head': Role(timed=(('predict', ''), )),
    'roi_bbox_extractor': Role(timed=(('call', ''), ),
                               roi_label='bbox RoIAlign'),
    'roi_bbox_head': Role(deploy=True, bf16='', timed=(('call', ''), ),
                          classes=2, roi_label='bbox head'),
    'roi_mask_extractor': Role(timed=(('call', ''), ),
                               roi_label='mask RoIAlign'),
    'roi_mask_head': Role(deploy=True, bf16='', timed=(('call', ''), ),
                          roi_label='mask head'),
    'decode_head': Role(deploy=True, bf16='conv_seg',
                        timed=(('predict', ''), ), classes=1),
    'auxiliary_head': Role(deploy=True, bf16='conv_seg'),
    'cls_head': Role(deploy=True, bf16='', timed=(('predict', ''), ),
                     classes=0),
    # a module outside the named parts that a caller of model_parts asks
    # for (its ``whole`` predicate), e.g. a bare backbone in a wrapper
    'module': Role(deploy=True),
}

# attribute name -> role, at the top of a model (or anywhere outside a RoI
# head) and inside a RoI head
_NAMES = {
    'data_preprocessor': 'data_preprocessor',
    'backbone': 'backbone',
    'neck': 'neck',
    'rpn_head': 'dense_head',
    'bbox_head': 'dense_head',
    'roi_head': 'roi_head',
    'decode_head': 'decode_head',
    'auxiliary_head': 'auxiliary_head',
    'head': 'cls_head',
}
_ROI_NAMES = {
    'bbox_roi_extractor': 'roi_bbox_extractor',
    'bbox_head': 'roi_bbox_head',
    'mask_roi_extractor': 'roi_mask_extractor',
    'mask_head': 'roi_mask_head',
}

#: every attribute name that makes a module a part
PART_NAMES = tuple(dict.fromkeys([*_NAMES, *_ROI_NAMES]))


@dataclass(frozen=True)
class Part:
    """One part of a model: ``role`` (a key of :data:`ROLES`), ``name``
    (its attribute path from the model, e.g. ``'roi_head.bbox_head'``;
    a cascade's members ``'roi_head.bbox_head.0'``) and ``module``."""
    role: str
    name: str
    module: nn.Module

    @property
    def traits(self):
        """Its :class:`Role`."""
        return ROLES[self.role]


def model_parts(model, whole=None):
    """The :class:`Part` s of an OpenMMLab ``model``, in registration order
    (a RoI head before its members). Parts are found by their attribute
    names anywhere in the model (also inside wrappers such as DDP's
    ``module``); a part is not searched further, except a RoI head, whose
    members are parts. A ``ModuleList``/``ModuleDict`` under a part's name
    (a cascade's heads, several auxiliary heads) stands for its members.
    ``whole`` (optional): a predicate; a module outside the named parts for
    which it holds is a part of role ``'module'``, not searched further
    (deploy asks for the modules with a ``switch_to_deploy()`` of their
    own)."""
    found = []

    def visit(module, prefix, names):
        for name, child in module.named_children():
            path = f'{prefix}{name}'
            role = names.get(name)
            if role is None:
                if whole is not None and whole(child):
                    found.append(Part('module', path, child))
                else:
                    visit(child, f'{path}.', _NAMES)
                continue
            members = [(f'{path}.{n}', m) for n, m in child.named_children()] \
                if isinstance(child, (nn.ModuleList, nn.ModuleDict)) else \
                [(path, child)]
            for p, m in members:
                found.append(Part(role, p, m))
                if role == 'roi_head':
                    visit(m, f'{p}.', _ROI_NAMES)

    visit(model, '', _NAMES)
    return found


def part_num_classes(model):
    """The number of classes ``model`` predicts, as its head says (a
    classifier's or decode head, else the RoI box head, else a dense
    head), or None."""
    ranked = sorted(
        (p for p in model_parts(model) if p.traits.classes is not None),
        key=lambda p: p.traits.classes)
    for part in ranked:
        n = getattr(part.module, 'num_classes', None)
        if isinstance(n, int) and not isinstance(n, bool):
            return n
    return None
