"""Export an mmhybrid backbone or ImageNet classifier to Core ML (an ML
program, ``.mlpackage``) with coremltools, as SHViT's own ``export_model.py``
does for its iPhone latency.

    # a bare backbone (random init unless --checkpoint), deploy form
    python tools/deployment/export_coreml.py --backbone SHViT --arch s4 \\
        --shape 256 256   # -> work_dirs/coreml/shvit_s4_256x256.mlpackage
    # a classifier config: its logits (``model(x, mode='tensor')``)
    python tools/deployment/export_coreml.py configs/imagenet_shvit_s4.py \\
        --checkpoint shvit_s4.pth --shape 256 256 --out shvit_s4_cls.mlpackage

Phases (on stderr): build (through ``mmhybrid.apis.build_model``; a
checkpoint goes through the checked, safe loader), deploy
(``mmhybrid.utils.switch_to_deploy``: Conv+BN fusion, BN folding of
the heads), trace (``torch.jit.trace`` at 1x3xHxW), convert
(``coremltools.convert(..., convert_to='mlprogram')``), save, verify.

Verify reloads the package with ``coremltools.models.MLModel(path,
skip_model_load=True)`` and checks that its spec is an ML program whose
input and output names and shapes are those of the traced model. That is
all Linux allows: coremltools compiles and runs a Core ML model only on
macOS, so this tool measures no prediction parity with PyTorch.

The input is named ``input`` (float32, 1x3xHxW, the normalised image); the
outputs are ``logits`` for a classifier and ``output0``, ``output1``, ...
(one per backbone output) for a backbone. Exit status: 0 written and
verified; 1 a user's mistake (a missing file, an unknown backbone, a config
of another task, a checkpoint refused by the loader, coremltools not
installed); 2 the model cannot be traced or converted (the message names the
failing op) or the reloaded package does not match.
"""
import argparse
import os.path as osp
import sys

from mmhybrid.apis import (add_backbone_args, add_trust_arg, apply_trust_arg,
                           run_cli)
from mmhybrid.deploy import coreml

PROG = 'tools/deployment/export_coreml.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export an mmhybrid backbone or classifier (deploy form) '
        'to a Core ML ML program (.mlpackage) with coremltools.')
    parser.add_argument('config', nargs='?',
                        help='classifier config (configs/imagenet_*.py); '
                        'omit it and give --backbone for a bare backbone')
    parser.add_argument('--checkpoint', help='checkpoint to load (a full '
                        'model for a config; a backbone state dict or a '
                        "checkpoint with 'backbone.' keys for --backbone)")
    add_backbone_args(parser, help='a bare backbone instead of a config')
    parser.add_argument('--out-indices', type=int, nargs='+',
                        help='backbone outputs to export (default: the '
                        "backbone's own default)")
    parser.add_argument('--shape', type=int, nargs=2, default=[256, 256],
                        metavar=('H', 'W'),
                        help='input height and width (default 256 256, as '
                        "SHViT's export_model.py)")
    parser.add_argument('--precision', choices=['float16', 'float32'],
                        default='float16',
                        help='compute precision of the ML program '
                        "(default float16, coremltools' default; inputs and "
                        'outputs stay float32)')
    parser.add_argument('--no-deploy', action='store_true',
                        help='do not call switch_to_deploy()')
    parser.add_argument('--out', help='output .mlpackage (default: '
                        'work_dirs/coreml/NAME_HxW.mlpackage)')
    add_trust_arg(parser)
    args = parser.parse_args(argv)
    if (args.config is None) == (args.backbone is None):
        parser.error('give either a CONFIG or --backbone TYPE (not both)')
    if args.config is not None and (args.arch or args.out_indices):
        parser.error('--arch/--out-indices go with --backbone; set them in '
                     'the config for a classifier')
    if args.out is None:
        name = (f'{args.backbone}' + (f'_{args.arch}' if args.arch else '')
                if args.backbone else
                osp.splitext(osp.basename(args.config))[0])
        h, w = args.shape
        args.out = osp.join('work_dirs', 'coreml',
                            f'{name.lower()}_{h}x{w}.mlpackage')
    if not args.out.endswith('.mlpackage'):
        parser.error(f'--out must be a .mlpackage, got {args.out!r}')
    if min(args.shape) < 1:
        parser.error(f'--shape must be positive, got {args.shape}')
    return args



def phase(name, msg):
    print(f'[{name}] {msg}', file=sys.stderr, flush=True)


def run(args):
    r = coreml.export_coreml(args.out, config=args.config, backbone=args.backbone,
                             arch=args.arch, out_indices=args.out_indices,
                             checkpoint=args.checkpoint, shape=args.shape,
                             precision=args.precision,
                             deploy=not args.no_deploy, log=phase)
    print(f"Exported {r['name']} to {r['out']} ({r['size_mib']:.1f} MiB, "
          f"ML program, {r['precision']}, deploy form: {r['deploy']}) in "
          f"{r['seconds']:.0f} s")
    for what, io in (('input', r['inputs']), ('output', r['outputs'])):
        for n, s in io:
            print(f'  {what} {n}: {list(s)}')
    print('  reloaded: the spec matches the traced model (names, shapes)')
    print(f'  {coreml.NO_PARITY}')


def main(argv=None):
    args = parse_args(argv)
    try:
        with apply_trust_arg(args, args.checkpoint):
            return run_cli(lambda: run(args), PROG)
    except coreml.UsageError as e:
        print(f'{PROG}: error: {e}', file=sys.stderr)
        return 1
    except coreml.ConversionError as e:
        print(f'{PROG}: error: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
