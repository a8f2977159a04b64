"""Predict on an image (or a folder of images) with an mmhybrid config and
save the picture as PNG: boxes and masks (detection), the class map over the
image (segmentation) or the top-5 classes beside it (classification). The
task follows the config. Flags as mmdet's ``demo/image_demo.py``.

Example::

    python tools/inference.py demo.jpg configs/demo/maskrcnn_shvit_s1_toy.py \\
        work_dirs/demo/maskrcnn_shvit_s1_toy/epoch_12.pth --out-dir outputs
    python tools/inference.py data/toy/imagenet/val/ellipse \\
        configs/imagenet_shvit_s1.py --out-dir outputs   # random weights

Writes ``<out-dir>/<image name>.png`` per image and prints each file with
its top predictions (library: :func:`mmhybrid.apis.predict_images`).
"""
import argparse
import sys

from mmhybrid.apis import (MAX_SIZE, ImagePredictor, add_trust_arg,
                           apply_trust_arg, check_predict_inputs,
                           describe_prediction, predict_images, run_cli)
from mmhybrid.deploy import add_compile_argument


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Predict on images with an mmhybrid config and save the '
        'pictures as PNG')
    parser.add_argument('image', help='image file or folder of images')
    parser.add_argument('config', help='config file (its task: detection, '
                        'segmentation or classification)')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint file (default: random weights)')
    parser.add_argument('--out-dir', default='outputs',
                        help='where the PNG pictures go (default: outputs)')
    parser.add_argument('--device', default=None,
                        help='device used for inference, e.g. cpu, cuda:0 '
                        '(default: cuda:0 if available, else cpu)')
    parser.add_argument('--pred-score-thr', type=float, default=0.3,
                        help='detection: bbox score threshold (default 0.3)')
    parser.add_argument('--palette', default='none',
                        choices=['coco', 'voc', 'citys', 'random', 'none'],
                        help='detection: colour palette (none: the config\'s, '
                        'then the checkpoint\'s)')
    parser.add_argument('--opacity', type=float, default=0.5,
                        help='segmentation: opacity of the painted class map '
                        '(0-1, default 0.5)')
    parser.add_argument('--topk', type=int, default=5,
                        help='classification: classes drawn and printed '
                        '(default 5)')
    parser.add_argument(
        '--allow-partial-load', action='store_true',
        help='load a checkpoint that lacks keys or has tensors of other '
        'shapes: what fits is loaded, the rest stays random (default: '
        'refuse such a file)')
    parser.add_argument(
        '--deploy', action='store_true',
        help='predict with the deploy form of the model (BN folded, fused '
        'conv+activation: mmhybrid.utils.switch_to_deploy)')
    parser.add_argument(
        '--bf16', action='store_true',
        help='CPU only: run the convolutions and linears of the backbone, '
        'neck and heads in bfloat16 (autocast), keeping NMS, RoIAlign, box '
        'decoding, mask pasting and the seg-logit resize in float32 '
        '(mmhybrid.utils.enable_bf16)')
    add_compile_argument(parser, 'the printed form')
    parser.add_argument(
        '--max-size', type=int, default=None,
        help='the longest side (px) at which an image is predicted and '
        'drawn; a larger one is resized down to it, with a note (default: '
        f'{MAX_SIZE}; segmentation: the side at which the full-size '
        'results take 2 GiB, 2764 px for 4 classes, 1575 px for 150). A '
        'larger value costs memory: the inferencers keep full-size results')
    parser.add_argument(
        '--view-size', type=int, default=0,
        help='draw the picture of a smaller image enlarged by a whole factor '
        '(nearest neighbour) until its longest side is at least this many '
        'px, e.g. 512 for the 128 px toy images (default 0: drawn at the '
        'size predicted on; the prediction itself is unchanged)')
    add_trust_arg(parser)
    return parser.parse_args(argv)


def run(args):
    images = check_predict_inputs(args.image, args.config, args.checkpoint)
    predictor = ImagePredictor(
        args.config, args.checkpoint, device=args.device,
        allow_partial_load=args.allow_partial_load,
        pred_score_thr=args.pred_score_thr, opacity=args.opacity,
        topk=args.topk, palette=args.palette, deploy=args.deploy,
        bf16=args.bf16, max_size=args.max_size, view_size=args.view_size,
        compile=args.compile)
    weights = args.checkpoint or 'none (random initialisation)'
    print(f'task: {predictor.task}, config: {args.config}, weights: '
          f'{weights}, class names from the {predictor.meta_source}, '
          f'device: {predictor.device}', flush=True)
    print(f'inference form: {predictor.form}', flush=True)
    written = predict_images(predictor, images, args.out_dir)
    for path, out, result in written:
        print(f'{path} -> {out}')
        for line in describe_prediction(result, predictor.task, args.topk,
                                        args.pred_score_thr):
            print(line)
    if predictor.compiled is not None:  # as it ran: any fallback named
        print(f'inference form as run: {predictor.form}', flush=True)
    print(f'wrote {len(written)} PNG file(s) to {args.out_dir}')
    return written


def main(argv=None):
    args = parse_args(argv)
    with apply_trust_arg(args, args.checkpoint):
        return run_cli(lambda: run(args), 'tools/inference.py')


if __name__ == '__main__':
    sys.exit(main())
