"""Print which of mmcv's compiled ops (``mmcv._ext``) every detection and
segmentation config calls in one training step and one prediction at a small
shape (:func:`mmhybrid.analysis.mmcv_ext_calls_of_config`)::

    python tools/misc/mmcv_ext_usage.py [CONFIG ...] [--device cuda]

Without CONFIG: every such config under configs/ (demo/ and ablations/
included).
"""
import argparse

import torch

from mmhybrid.analysis import (dense_prediction_configs,
                               mmcv_ext_calls_of_config, mmcv_ext_usage_table)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='*')
    parser.add_argument('--config-dir', default='configs')
    parser.add_argument('--size', type=int, nargs=2, default=[128, 160],
                        metavar=('H', 'W'))
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    torch.manual_seed(0)
    configs = args.configs or dense_prediction_configs(args.config_dir)
    usage = {}
    for config in configs:
        usage[config] = mmcv_ext_calls_of_config(config, tuple(args.size),
                                                 args.device)
        print(f'{config}: train {dict(usage[config]["train"])} '
              f'predict {dict(usage[config]["predict"])}', flush=True)
    print('\n'.join(mmcv_ext_usage_table(usage)))


if __name__ == '__main__':
    main()
