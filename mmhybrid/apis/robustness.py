"""FGSM / PGD robustness of a classifier on its config's test set (the
library of ``tools/analysis_tools/eval_robustness.py``).

Attacks run in pixel space: images as the test pipeline packs them (uint8,
[0, 255], the dataset's channel order), perturbed with L-inf budget
``eps * 255`` and clamped to [0, 255], then normalised exactly like the
model's ``data_preprocessor`` (optional BGR->RGB swap, ``(x - mean) / std``),
differentiably. ``eps`` are fractions of the full range (``2/255`` = two
grey levels). PGD: random start in the eps-ball, ``pgd_steps`` signed
gradient steps of ``alpha * eps`` (default 2.5 / steps, Madry et al.),
projection after each.

Robust accuracy counts an image as correct only if it is classified
correctly clean *and* at every adversarial iterate the attack produced
(standard worst-case robust accuracy), so adversarial top-1 <= clean top-1
by construction and eps = 0 gives exactly the clean top-1.
"""
import json
import os
import os.path as osp
from fractions import Fraction

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .model import TensorForward, build_model
from .runner import config_task, load_config

__all__ = ['parse_eps', 'pixel_model', 'fgsm', 'pgd', 'robust_correct',
           'build_test_loader', 'plot_robustness_curve',
           'attention_disruption_figure', 'robustness_table',
           'eval_robustness']


def parse_eps(text):
    """'2/255' or '0.0078' -> float; ``ValueError`` naming the text."""
    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f'bad epsilon {text!r}') from None


def pixel_model(model):
    """[0, 255] pixels -> logits: the model's own normalisation, then its
    :class:`TensorForward` logits."""
    from mmhybrid.visualization import PixelNormalizer
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


def plot_robustness_curve(results, path):
    """Top-1 against eps per attack (PNG at ``path``)."""
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


def attention_disruption_figure(pm, x_clean, x_adv, path, title=''):
    """The attention maps of one image before (top row) and after (bottom)
    an attack, per block: whatever the model's records hold, chosen by
    their layout (:func:`mmhybrid.visualization.draw.attention_heatmaps`:
    attention over positions if the model has any). Returns ``path``, or
    None when the model captures no map."""
    from mmhybrid.visualization import AttentionCapture
    from mmhybrid.visualization.draw import (attention_heatmaps,
                                             save_attention_change)
    normalizer, model = pm[0], pm[1].model

    def capture(x):
        with AttentionCapture(model) as cap, torch.no_grad():
            pm(x)
        return attention_heatmaps(cap.records)

    def to_rgb(x):
        arr = x[0].permute(1, 2, 0).detach().numpy().clip(0, 255)
        arr = arr.astype(np.uint8)
        # dataset images are BGR when the preprocessor swaps to RGB
        return np.ascontiguousarray(
            arr[..., ::-1] if normalizer.swap else arr)

    return save_attention_change(to_rgb(x_clean), to_rgb(x_adv),
                                 capture(x_clean), capture(x_adv), path,
                                 title)


def robustness_table(results):
    """The text table of :func:`eval_robustness`'s results."""
    eps = [r['eps'] for r in next(iter(results['attacks'].values()), [])]
    header = f'{"attack":<8}' + ''.join(
        f'{f"eps={e * 255:g}/255":>14}' for e in eps)
    lines = [f'clean top-1: {results["clean_top1"]:.2f} % '
             f'({results["num_images"]} images)', header]
    for a, rows in results['attacks'].items():
        lines.append(f'{a.upper():<8}' + ''.join(
            f'{r["top1"]:>14.2f}' for r in rows))
    return '\n'.join(lines)


def eval_robustness(config, checkpoint, eps=(0, 1 / 255, 2 / 255, 4 / 255,
                                             8 / 255),
                    attacks=('fgsm', 'pgd'), pgd_steps=10, pgd_alpha=None,
                    max_images=None, batch_size=None, out_dir=None,
                    attention_figure=True, seed=0, cfg_options=None,
                    progress=True):
    """Clean and adversarial top-1 of a classification ``config`` +
    ``checkpoint`` on its test set (module docstring); writes
    ``robustness.json``, ``robustness_curve.png`` and, with
    ``attention_figure`` and some eps > 0, ``attention_disruption.png``
    (:func:`attention_disruption_figure` of the first image under the
    strongest PGD, else FGSM) to ``out_dir`` (default
    ``work_dirs/robustness/<config name>``).

    Returns:
        dict: the results (``clean_top1``, ``attacks``: per attack a row
        ``eps``, ``eps_255``, ``top1`` per eps, ...) and ``written`` (the
        files).
    """
    for path, what in ((config, 'Config'), (checkpoint, 'Checkpoint')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} file not found: {path!r}')
    bad = [a for a in attacks if a not in ('fgsm', 'pgd')]
    if bad:
        raise ValueError(f'unknown attacks {bad}; known: fgsm, pgd')
    cfg = load_config(config, cfg_options)
    if config_task(cfg) != 'classification':
        raise ValueError(f'{config}: not a classification config '
                         f'(default_scope {cfg.default_scope!r})')
    torch.manual_seed(seed)
    model = build_model(cfg, checkpoint=checkpoint)
    pm = pixel_model(model).eval()
    for p in pm.parameters():
        p.requires_grad_(False)
    loader = build_test_loader(cfg, batch_size)
    out_dir = out_dir or osp.join(
        'work_dirs', 'robustness', osp.splitext(osp.basename(config))[0])
    os.makedirs(out_dir, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    alpha = pgd_alpha or 2.5 / max(pgd_steps, 1)

    n_total = len(loader.dataset)
    if max_images:
        n_total = min(n_total, max_images)
    clean_correct = 0
    counts = {a: [0] * len(eps) for a in attacks}
    seen = 0
    first = None  # (x, y) of the first image for the attention figure
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
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
        for attack in attacks:
            for i, e in enumerate(eps):
                e = e * 255.
                if attack == 'fgsm':
                    its = fgsm(pm, x, y, e)
                else:
                    its = pgd(pm, x, y, e, pgd_steps, alpha, gen)
                ok, _ = robust_correct(pm, x, y, its, ok_clean)
                counts[attack][i] += int(ok.sum())
        seen += take
        for _ in range(take if bar else 0):
            bar.update()
    if bar:
        print()
    if seen == 0:
        raise RuntimeError('the test set is empty')

    def pct(c):
        return 100.0 * c / seen

    results = dict(
        config=config, checkpoint=checkpoint, num_images=seen,
        clean_top1=pct(clean_correct), pgd_steps=pgd_steps,
        pgd_alpha=alpha, attacks={
            a: [dict(eps=e, eps_255=e * 255, top1=pct(c))
                for e, c in zip(eps, counts[a])]
            for a in attacks
        })
    json_path = osp.join(out_dir, 'robustness.json')
    with open(json_path, 'w') as f:
        json.dump(results, f, indent=2)
    written = [json_path, plot_robustness_curve(
        results, osp.join(out_dir, 'robustness_curve.png'))]
    if attention_figure and first is not None and max(eps) > 0:
        e = max(eps) * 255.
        xf, yf = first
        attack = 'pgd' if 'pgd' in attacks else 'fgsm'
        if attack == 'pgd':
            its = pgd(pm, xf, yf, e, pgd_steps, alpha, gen)
        else:
            its = fgsm(pm, xf, yf, e)
        _, shown = robust_correct(pm, xf, yf, its,
                                  torch.ones(1, dtype=torch.bool))
        fig = attention_disruption_figure(
            pm, xf, shown, osp.join(out_dir, 'attention_disruption.png'),
            f'{attack.upper()} eps={e:g}/255: attention before (top) / '
            f'after (bottom)')
        if fig:
            written.append(fig)
    results['written'] = written
    return results
