"""mmhybrid.analysis.mmcv_ext_calls_of_config: the compiled mmcv ops a
config's training step and prediction call, recorded (the way the stand-in's
op list was found), and the stand-in implements every one of them."""
import pytest

import mmhybrid.engine.mmcv_ext_torchvision as stand_in
from mmhybrid.analysis import mmcv_ext_calls_of_config, mmcv_ext_usage_table


def test_toy_mask_rcnn_calls_only_what_the_stand_in_has():
    config = 'configs/demo/maskrcnn_shvit_s1_toy.py'
    calls = mmcv_ext_calls_of_config(config, size=(96, 128))
    train = {op for op, _ in calls['train']}
    predict = {op for op, _ in calls['predict']}
    # proposals by NMS, RoIAlign of the RoI heads and of the mask targets
    assert train == {'nms', 'roi_align_forward', 'roi_align_backward'}
    assert predict == {'nms', 'roi_align_forward'}
    assert {dev for _, dev in calls['train']} == {'cpu'}
    assert (train | predict) <= set(stand_in.IMPLEMENTED)
    table = mmcv_ext_usage_table({config: calls})
    assert table[-1] == ('ops called: nms, roi_align_backward, '
                         'roi_align_forward')


def test_classifiers_refused():
    with pytest.raises(ValueError, match='classification config'):
        mmcv_ext_calls_of_config('configs/imagenet_shvit_s1.py')
