"""FGSM / PGD robustness of an mmhybrid classifier on its config's test set.

    python tools/analysis_tools/eval_robustness.py CONFIG CHECKPOINT \
        --eps 0 1/255 2/255 4/255 --attack fgsm pgd --pgd-steps 10 \
        [--pgd-alpha 0.25] [--max-images N] [--out-dir DIR]

Attacks run in pixel space: images as the test pipeline packs them (uint8,
[0, 255], the dataset's channel order), perturbed with L-inf budget
``eps * 255`` and clamped to [0, 255], then normalised exactly like the
model's ``data_preprocessor`` (optional BGR->RGB swap, ``(x - mean) / std``),
differentiably. ``eps`` are fractions of the full range (``2/255`` = two
grey levels). PGD: random start in the eps-ball, ``--pgd-steps`` signed
gradient steps of ``alpha * eps`` (default 2.5 / steps, Madry et al.),
projection after each.

Robust accuracy counts an image as correct only if it is classified
correctly clean *and* at every adversarial iterate the attack produced
(standard worst-case robust accuracy), so adversarial top-1 <= clean top-1
by construction and eps = 0 gives exactly the clean top-1.

Writes to ``--out-dir`` (default ``work_dirs/robustness/<config name>``):
``robustness.json`` (clean and per-attack/eps top-1), ``robustness_curve.png``
(top-1 vs eps per attack) and, with ``--attention-figure`` (default on),
``attention_disruption.png``: SHViT single-head attention (or the model's
first supported attention map) of one image before vs after the strongest
PGD (else FGSM) attack.
"""
import argparse
import json
import os
import os.path as osp
from fractions import Fraction

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import DictAction

from mmhybrid.apis import TensorForward, build_model, config_task, load_config
from mmhybrid.visualization import AttentionCapture, PixelNormalizer


def parse_eps(text):
    """'2/255' or '0.0078' -> float."""
    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f'bad epsilon {text!r}')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='classification config')
    p.add_argument('checkpoint', help='checkpoint file')
    p.add_argument('--eps', type=parse_eps, nargs='+',
                   default=[0, 1 / 255, 2 / 255, 4 / 255, 8 / 255],
                   help='L-inf budgets as fractions of [0, 255] '
                   '(e.g. 0 1/255 2/255)')
    p.add_argument('--attack', nargs='+', choices=['fgsm', 'pgd'],
                   default=['fgsm', 'pgd'])
    p.add_argument('--pgd-steps', type=int, default=10)
    p.add_argument('--pgd-alpha', type=float, default=None,
                   help='PGD step as a fraction of eps (default 2.5/steps)')
    p.add_argument('--max-images', type=int, default=None,
                   help='evaluate at most this many test images')
    p.add_argument('--batch-size', type=int, default=None,
                   help='override the test dataloader batch size')
    p.add_argument('--out-dir', help='output folder')
    p.add_argument('--no-attention-figure', dest='attention_figure',
                   action='store_false')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='key=value config overrides')
    return p.parse_args(argv)


def pixel_model(model):
    """[0, 255] pixels -> logits: the model's own normalisation, then its
    :class:`TensorForward` logits."""
    return nn.Sequential(PixelNormalizer(model.data_preprocessor),
                         TensorForward(model, output='last'))


def _grad(fn, x, y):
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(fn(x), y)
    return torch.autograd.grad(loss, x)[0]


def fgsm(fn, x, y, eps):
    """One signed-gradient step of ``eps`` (pixels); returns [x_adv]."""
    if eps == 0:
        return [x.clone()]
    return [(x + eps * _grad(fn, x, y).sign()).clamp(0, 255).detach()]


def pgd(fn, x, y, eps, steps, alpha, generator=None):
    """L-inf PGD with random start; returns every iterate."""
    if eps == 0:
        return [x.clone()]
    noise = torch.rand(x.shape, generator=generator) * 2 - 1
    x_adv = (x + eps * noise.to(x)).clamp(0, 255)
    iterates = []
    for _ in range(steps):
        x_adv = x_adv + alpha * eps * _grad(fn, x_adv, y).sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 255)
        x_adv = x_adv.detach()
        iterates.append(x_adv)
    return iterates


def robust_correct(fn, x, y, iterates, clean_correct):
    """Correct clean and at every iterate; also the adversarial example to
    show (the first that fools the model, else the last)."""
    correct = clean_correct.clone()
    shown = iterates[-1].clone()
    fooled_seen = torch.zeros_like(correct)
    for it in iterates:
        with torch.no_grad():
            ok = fn(it).argmax(1) == y
        newly = ~ok & ~fooled_seen
        shown[newly] = it[newly]
        fooled_seen |= ~ok
        correct &= ok
    return correct, shown


def build_test_loader(cfg, batch_size=None):
    """The config's test dataloader, built in the config's scope."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    loader_cfg = cfg.test_dataloader.copy()
    if batch_size:
        loader_cfg['batch_size'] = batch_size
    loader_cfg['num_workers'] = 0
    loader_cfg['persistent_workers'] = False
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return Runner.build_dataloader(loader_cfg)


def plot_curve(results, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for attack, rows in results['attacks'].items():
        eps = [r['eps'] * 255 for r in rows]
        ax.plot(eps, [r['top1'] for r in rows], marker='o',
                label=attack.upper())
    ax.axhline(results['clean_top1'], color='gray', ls='--', label='clean')
    ax.set_xlabel('epsilon (x 1/255)')
    ax.set_ylabel('top-1 (%)')
    ax.set_ylim(-2, 102)
    ax.set_title(f'robustness ({results["num_images"]} images)')
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def attention_figure(pm, x_clean, x_adv, path, title=''):
    """Mean-over-queries attention per block, clean vs adversarial, for one
    image. SHViT SHSA blocks if any, else every captured attention type."""
    normalizer, model = pm[0], pm[1].model

    def capture(x):
        with AttentionCapture(model) as cap, torch.no_grad():
            pm(x)
        recs = [r for r in cap.records if r['type'] == 'shsa']
        if not recs:
            recs = [r for r in cap.records
                    if r['type'] in ('cswin', 'lwmhsa', 'dsa', 'ham')]
        big = [r for r in recs if r['hw'] and r['hw'][0] * r['hw'][1] > 1]
        recs = big or recs  # 1x1 maps (deep stages of tiny inputs) say nil
        out = []
        for r in recs:
            m = r['maps']
            key = next(k for k in ('mean', 'spatial', 'spatial_important')
                       if k in m)
            out.append((r['name'].replace('backbone.', ''), m[key][0]))
        return out

    clean, adv = capture(x_clean), capture(x_adv)
    if not clean:
        return None
    if len(clean) > 6:
        idx = np.linspace(0, len(clean) - 1, 6).round().astype(int)
        clean = [clean[i] for i in idx]
        adv = [adv[i] for i in idx]
    def to_rgb(x):
        arr = x[0].permute(1, 2, 0).detach().numpy().clip(0, 255)
        arr = arr.astype(np.uint8)
        # dataset images are BGR when the preprocessor swaps to RGB
        return np.ascontiguousarray(
            arr[..., ::-1] if normalizer.swap else arr)

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from mmhybrid.visualization import overlay_heatmap
    n = len(clean) + 1
    fig, axes = plt.subplots(2, n, figsize=(2.6 * n, 5.6), squeeze=False)
    for ax in axes.flat:
        ax.axis('off')
    for row, (img, maps, tag) in enumerate(
            ((to_rgb(x_clean), clean, 'clean'),
             (to_rgb(x_adv), adv, 'adversarial'))):
        axes[row, 0].imshow(img)
        axes[row, 0].set_title(f'{tag} input', fontsize=8)
        for j, (name, m) in enumerate(maps):
            a = clean[j][1]
            change = (m - a).abs().sum() / a.abs().sum().clamp_min(1e-12)
            t = name if row == 0 else f'{name}\nrel. L1 change {change:.3f}'
            axes[row, j + 1].imshow(overlay_heatmap(img, m.numpy()))
            axes[row, j + 1].set_title(t, fontsize=7)
    fig.suptitle(title or 'attention before / after', fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None):
    args = parse_args(argv)
    from mmengine.utils import ProgressBar
    for path, what in ((args.config, 'Config'),
                       (args.checkpoint, 'Checkpoint')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} file not found: {path!r}')
    cfg = load_config(args.config, args.cfg_options)
    if config_task(cfg) != 'classification':
        raise ValueError(f'{args.config}: not a classification config '
                         f'(default_scope {cfg.default_scope!r})')
    torch.manual_seed(args.seed)
    model = build_model(cfg, checkpoint=args.checkpoint)
    pm = pixel_model(model).eval()
    for p in pm.parameters():
        p.requires_grad_(False)
    loader = build_test_loader(cfg, args.batch_size)
    out_dir = args.out_dir or osp.join(
        'work_dirs', 'robustness',
        osp.splitext(osp.basename(args.config))[0])
    os.makedirs(out_dir, exist_ok=True)
    gen = torch.Generator().manual_seed(args.seed)
    alpha = args.pgd_alpha or 2.5 / max(args.pgd_steps, 1)

    n_total = len(loader.dataset)
    if args.max_images:
        n_total = min(n_total, args.max_images)
    clean_correct = 0
    counts = {a: [0] * len(args.eps) for a in args.attack}
    seen = 0
    first = None  # (x, y) of the first image for the attention figure
    bar = ProgressBar(n_total)
    for data in loader:
        if seen >= n_total:
            break
        x = torch.stack(data['inputs']).float()
        y = torch.as_tensor(
            [int(ds.gt_label[0]) for ds in data['data_samples']])
        take = min(len(x), n_total - seen)
        x, y = x[:take], y[:take]
        with torch.no_grad():
            ok_clean = pm(x).argmax(1) == y
        clean_correct += int(ok_clean.sum())
        if first is None:
            first = (x[:1].clone(), y[:1].clone())
        for attack in args.attack:
            for i, eps in enumerate(args.eps):
                e = eps * 255.
                if attack == 'fgsm':
                    its = fgsm(pm, x, y, e)
                else:
                    its = pgd(pm, x, y, e, args.pgd_steps, alpha, gen)
                ok, _ = robust_correct(pm, x, y, its, ok_clean)
                counts[attack][i] += int(ok.sum())
        seen += take
        for _ in range(take):
            bar.update()
    print()
    if seen == 0:
        raise RuntimeError('the test set is empty')

    def pct(c):
        return 100.0 * c / seen

    results = dict(
        config=args.config, checkpoint=args.checkpoint, num_images=seen,
        clean_top1=pct(clean_correct), pgd_steps=args.pgd_steps,
        pgd_alpha=alpha, attacks={
            a: [dict(eps=e, eps_255=e * 255, top1=pct(c))
                for e, c in zip(args.eps, counts[a])]
            for a in args.attack
        })
    # table
    header = f'{"attack":<8}' + ''.join(
        f'{f"eps={e * 255:g}/255":>14}' for e in args.eps)
    lines = [f'clean top-1: {results["clean_top1"]:.2f} % '
             f'({seen} images)', header]
    for a in args.attack:
        lines.append(f'{a.upper():<8}' + ''.join(
            f'{r["top1"]:>14.2f}' for r in results['attacks'][a]))
    print('\n'.join(lines))
    json_path = osp.join(out_dir, 'robustness.json')
    with open(json_path, 'w') as f:
        json.dump(results, f, indent=2)
    curve = plot_curve(results, osp.join(out_dir, 'robustness_curve.png'))
    written = [json_path, curve]
    if args.attention_figure and first is not None and max(args.eps) > 0:
        e = max(args.eps) * 255.
        xf, yf = first
        attack = 'pgd' if 'pgd' in args.attack else 'fgsm'
        if attack == 'pgd':
            its = pgd(pm, xf, yf, e, args.pgd_steps, alpha, gen)
        else:
            its = fgsm(pm, xf, yf, e)
        _, shown = robust_correct(pm, xf, yf, its,
                                  torch.ones(1, dtype=torch.bool))
        fig = attention_figure(
            pm, xf, shown, osp.join(out_dir, 'attention_disruption.png'),
            f'{attack.upper()} eps={e:g}/255: attention before (top) / '
            f'after (bottom)')
        if fig:
            written.append(fig)
        else:
            print('no supported attention module: no attention figure')
    print('wrote:\n  ' + '\n  '.join(written))
    return results


if __name__ == '__main__':
    main()
