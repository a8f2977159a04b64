# CSWin-S Mask R-CNN 1x, COCO val2017: the CSWin paper's 47.9 box / 43.2 mask
# AP for the plain CSWin-S backbone (the backbone of GA-CSWin; no GA head);
# the recipe of maskrcnn_ga_cswin_t_coco.py with drop path 0.3.
_base_ = './maskrcnn_ga_cswin_t_coco.py'

model = dict(backbone=dict(arch='s', drop_path_rate=0.3))
