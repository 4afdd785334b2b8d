"""A self-contained HTML report: leaderboard tables, sample grids and training curves."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from scorebench.files import read_jsonl
from scorebench.report import leaderboard


def _png(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _plot(steps: list[int], values: list[float], ylabel: str, log: bool) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    ax.plot(steps, values, marker="o" if len(steps) < 30 else None)
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def render(board: dict[str, Any], run_dirs: list[Path]) -> str:
    parts = [
        "<!doctype html><meta charset='utf-8'><title>scorebench report</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}"
        "table{border-collapse:collapse;margin-bottom:1em}td,th{border:1px solid #ccc;"
        "padding:3px 8px}tr.run{background:#e6ffe6;font-weight:bold}</style>",
        "<h1>scorebench report</h1>",
    ]
    for g in board["groups"]:
        parts.append(
            f"<h2>{html.escape(g['dataset'])}: {html.escape(g['protocol'])}</h2>"
            f"<p>fingerprint <code>{html.escape(g['fingerprint'])}</code></p><table>"
        )
        heads, rows = leaderboard.table(g)
        parts.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in heads) + "</tr>")
        for cells, is_run in rows:
            cls = " class='run'" if is_run else ""
            parts.append(
                f"<tr{cls}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
            )
        parts.append("</table>")
    for run in run_dirs:
        parts.append(f"<h2>run {html.escape(str(run))}</h2>")
        grid = run / "samples.png"
        if grid.is_file():
            parts.append(
                f"<h3>samples</h3><img alt='sample grid' src='{_png(grid)}' "
                "style='image-rendering:pixelated;width:320px'>"
            )
        records = [r for r in read_jsonl(run / "metrics.jsonl") if "loss" in r]
        if records:
            plot = _plot(
                [r["step"] for r in records],
                [r["loss"] for r in records],
                "training loss",
                log=True,
            )
            parts.append(f"<h3>training loss</h3><img alt='training loss' src='{plot}'>")
        selection = run / "selection.json"
        if selection.is_file():  # metric vs training step from checkpoint selection
            chosen = json.loads(selection.read_text())
            steps = sorted(chosen["values"], key=int)
            plot = _plot(
                [int(s) for s in steps],
                [chosen["values"][s] for s in steps],
                f"{chosen['metric']} (n={chosen['n']})",
                log=False,
            )
            parts.append(
                f"<h3>{chosen['metric']} vs training step</h3>"
                f"<img alt='metric vs step' src='{plot}'>"
            )
    return "\n".join(parts) + "\n"
