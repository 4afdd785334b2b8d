"""Pictures for reports (matplotlib, Agg): quality vs NFE, training curves, upscaled grids."""

from __future__ import annotations

import io
import math
from typing import Any

from scorebench.report.leaderboard import EXACT_SAMPLES, ORIGIN_RUN, label, lower_is_better


def _figure(width: float = 5.5, height: float = 3.5):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(width, height), dpi=110)


def _png(plt, fig) -> bytes:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def pareto(points: list[tuple[float, float]], lower_is_better: bool) -> list[int]:
    """Indices of the points no other point beats on both NFE (lower) and quality."""
    sign = 1 if lower_is_better else -1
    front = []
    for i, (nfe, q) in enumerate(points):
        dominated = any(
            n2 <= nfe and sign * q2 <= sign * q and (n2, q2) != (nfe, q)
            for j, (n2, q2) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return front


def quality_vs_nfe(group: dict[str, Any]) -> bytes | None:
    """The ranking metric against NFE (log axis), one line per sampler, 95% intervals as
    error bars, the Pareto front circled, and the exact samples' value with its 95% band
    over independent draws (an oracle's noise floor). None when fewer than two run rows have
    an NFE."""
    metric = group.get("ranked_by")
    rows = [
        r
        for r in group["rows"]
        if r["origin"] == ORIGIN_RUN and r.get("nfe") and r["metrics"].get(metric) is not None
    ]
    if not metric or len(rows) < 2:
        return None
    from matplotlib.ticker import NullLocator

    plt, fig, ax = _figure(8, 4)
    one_model = len({r["model"] for r in rows}) == 1
    lines: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        lines.setdefault(
            r["sampler"] if one_model else f"{r['model']} / {r['sampler']}", []
        ).append(r)
    for line, same in sorted(lines.items()):
        same.sort(key=lambda r: r["nfe"])
        ax.errorbar(
            [r["nfe"] for r in same],
            [r["metrics"][metric] for r in same],
            yerr=[r["intervals"].get(metric) or 0 for r in same],
            marker="o",
            capsize=3,
            label=line,
        )
    for r in group["rows"]:
        if r["origin"] != ORIGIN_RUN and r["model"].startswith(EXACT_SAMPLES):
            value, band = r["metrics"].get(metric), r.get("intervals", {}).get(metric) or 0
            if value is not None:
                ax.axhspan(value - band, value + band, color="gray", alpha=0.25, lw=0)
                ax.axhline(value, color="gray", lw=1, label=f"{r['model']} (95% band)")
    points = [(float(r["nfe"]), float(r["metrics"][metric])) for r in rows]
    front = sorted(points[i] for i in pareto(points, lower_is_better(metric)))
    ax.plot(*zip(*front, strict=True), linestyle=":", color="gray", label="Pareto front")
    ax.scatter(*zip(*front, strict=True), s=160, facecolors="none", edgecolors="gray")
    ax.set_xscale("log")
    ticks, names = nfe_ticks(sorted({int(r["nfe"]) for r in rows}))
    ax.set_xticks(ticks, names, rotation=45 if len(ticks) > 6 else 0)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("NFE per sample (log)")
    arrow = "lower is better" if lower_is_better(metric) else "higher is better"
    ax.set_ylabel(f"{label(metric)} ({arrow})")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if one_model:
        ax.set_title(rows[0]["model"], fontsize=9)
    ax.grid(alpha=0.3)
    return _png(plt, fig)


def nfe_ticks(nfes: list[int]) -> tuple[list[int], list[str]]:
    """A labelled tick at every plotted budget, whatever the range; budgets too close to
    label apart on the log axis (200 and 201) share one tick, labelled "200/201"."""
    span = max(math.log10(nfes[-1] / nfes[0]), 1.0)  # decades shown, at least one
    ticks: list[int] = []
    names: list[str] = []
    for n in nfes:
        if ticks and math.log10(n / ticks[-1]) < 0.06 * span:
            names[-1] += f"/{n}"
        else:
            ticks.append(n)
            names.append(str(n))
    return ticks, names


def curve(steps: list[int], values: list[float], ylabel: str, log: bool) -> bytes:
    plt, fig, ax = _figure(5, 3)
    ax.plot(steps, values, marker="o" if len(steps) < 30 else None)
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    return _png(plt, fig)


def level_curves(steps: list[int], per_level: list[list[float | None]]) -> bytes:
    """The loss of each noise level against the training step (level 0: the largest sigma),
    coloured from the largest sigma to the smallest."""
    plt, fig, ax = _figure(5.5, 3.2)
    levels = max(len(row) for row in per_level)
    colours = plt.get_cmap("viridis")
    for i in range(levels):
        points = [
            (s, row[i])
            for s, row in zip(steps, per_level, strict=True)
            if i < len(row) and row[i] is not None and row[i] > 0
        ]
        if points:
            name = f"level {i}" + (" (largest σ)" if i == 0 else "")
            name += " (smallest σ)" if i == levels - 1 else ""
            ax.plot(*zip(*points, strict=True), color=colours(i / max(levels - 1, 1)), label=name)
    ax.set_xlabel("training step")
    ax.set_ylabel("σ²-weighted loss per level")
    ax.set_yscale("log")
    if levels <= 12:
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(plt, fig)


def square_limits(*point_sets, pad: float = 0.05) -> tuple[tuple[float, float], ...]:
    """One square (x, y) range holding every set of 2-D points: the panels of a protocol
    share it, so their scatters compare at a glance."""
    import numpy as np

    points = np.concatenate([np.asarray(p, dtype=float).reshape(-1, 2) for p in point_sets])
    points = points[np.isfinite(points).all(axis=1)]
    if not len(points):
        return ((-1.0, 1.0), (-1.0, 1.0))
    lo, hi = points.min(axis=0), points.max(axis=0)
    half = max(float((hi - lo).max()) / 2 * (1 + 2 * pad), 1e-6)
    centre = (lo + hi) / 2
    return tuple((float(c - half), float(c + half)) for c in centre)


def points_scatter(samples, title: str, reference=None, mixture=None, limits=None) -> bytes:
    """2-D samples over real data (dark grey) and, for a known mixture, its density
    contours and modes (crosses labelled with their weights), with labelled axes, within
    ``limits`` ((x range), (y range); default: the data's own)."""
    import numpy as np

    plt, fig, ax = _figure(4.6, 4.6)
    x = np.asarray(samples, dtype=float)
    if reference is not None:
        r = np.asarray(reference, dtype=float)
        ax.scatter(*r.T, s=4, color="0.3", alpha=0.55, label="real data", linewidths=0)
    ax.scatter(*x.T, s=3, color="tab:blue", alpha=0.6, label="samples", linewidths=0)
    if limits is not None:
        ax.set_xlim(*limits[0])
        ax.set_ylim(*limits[1])
    if mixture is not None:
        means = np.asarray(mixture.means, dtype=float)
        lo, hi = ax.get_xlim(), ax.get_ylim()
        gx, gy = np.meshgrid(np.linspace(*lo, 200), np.linspace(*hi, 200))
        density = sum(
            w * np.exp(-((gx - m[0]) ** 2 + (gy - m[1]) ** 2) / (2 * mixture.std**2))
            for m, w in zip(means, mixture.weights, strict=True)
        ) / (2 * np.pi * mixture.std**2)
        # The density at 1, 2 and 3 standard deviations from the heaviest mode.
        levels = density.max() * np.exp(-(np.array([3.0, 2.0, 1.0]) ** 2) / 2)
        ax.contour(gx, gy, density, levels=levels, colors="tab:red", linewidths=0.8, zorder=3)
        ax.scatter(*means.T, marker="x", s=40, color="tab:red", label="true modes", zorder=4)
        for m, w in zip(means, mixture.weights, strict=True):
            ax.annotate(
                f"weight {w:g}",
                m,
                textcoords="offset points",
                xytext=(8, -12),
                fontsize=8,
                color="tab:red",
                zorder=5,
            )
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_aspect("equal", adjustable="box" if limits is not None else "datalim")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return _png(plt, fig)


def image_grid(images, nrow: int = 8) -> bytes:
    """uint8 (N, C, H, W) images as one PNG grid (torchvision's make_grid)."""
    import torch
    from PIL import Image
    from torchvision.utils import make_grid

    grid = make_grid(torch.as_tensor(images), nrow=nrow, padding=1)  # as sample grids
    buffer = io.BytesIO()
    Image.fromarray(grid.permute(1, 2, 0).numpy()).save(buffer, format="png")  # 3 channels
    return buffer.getvalue()


def upscaled(png: bytes, min_side: int = 320) -> bytes:
    """A picture enlarged by an integer factor (nearest neighbour) to at least ``min_side``
    pixels, so 8x8 digits stay sharp and visible."""
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    factor = max(1, -(-min_side // min(image.size)))
    if factor == 1:
        return png
    big = image.resize((image.width * factor, image.height * factor), Image.NEAREST)
    buffer = io.BytesIO()
    big.save(buffer, format="png")
    return buffer.getvalue()
