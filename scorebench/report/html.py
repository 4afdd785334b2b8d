"""A self-contained HTML report (Jinja2 template ``templates/report.html.j2``).

Per protocol group: a heading that says what the protocol is (and, beside a sibling with
the same heading, what differs), the leaderboard with metric directions and intervals, the
numbers' scale, the citation of paper rows, the quality-vs-NFE plot, and each row's
samples beside real data. Per run: its samples beside its training data, the training
loss overall and per noise level, and its config, command, versions and commit.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import warnings
from pathlib import Path
from typing import Any

from scorebench.cells import GRID_FILE, SHARD
from scorebench.checks import is_finite_number
from scorebench.contracts import IMAGES
from scorebench.errors import ScorebenchError
from scorebench.files import read_jsonl
from scorebench.plugins import load
from scorebench.records import Manifest, problems
from scorebench.report import leaderboard, plots
from scorebench.report.terminal import sampler_text
from scorebench.runs import RunDir

#: Real images shown beside samples, and real points drawn under them.
REAL_IMAGES = 64
MAX_POINTS = 2000


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


class RealData:
    """Real data per (dataset, parameters, split, root), loaded once per report. A dataset
    that is not on this machine gives its error message instead (the report still renders)."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, Any]] = {}

    def get(self, dataset: str, params: dict[str, Any], split: str, root=None) -> dict[str, Any]:
        key = json.dumps([dataset, params, split, root], sort_keys=True, default=str)
        if key not in self._seen:
            self._seen[key] = self._load(dataset, params, split, root)
        return self._seen[key]

    @staticmethod
    def _load(dataset: str, params: dict[str, Any], split: str, root) -> dict[str, Any]:
        import torch

        try:
            ds = load("datasets", dataset)(root, split, **params)
        except (ScorebenchError, OSError, TypeError, ValueError) as exc:
            return {"error": f"real {dataset} data are not available here: {exc}"}
        images = getattr(ds, "kind", None) == IMAGES
        count = min(len(ds), REAL_IMAGES if images else MAX_POINTS)
        items = [ds[i] for i in range(count)]
        x = torch.stack([i[0] if isinstance(i, (tuple, list)) else i for i in items])
        if images:
            pixels = (x.clamp(0, 1) * 255).round().to(torch.uint8)
            return {"kind": IMAGES, "png": plots.upscaled(plots.image_grid(pixels.numpy()))}
        return {"kind": "points", "points": x.numpy(), "mixture": getattr(ds, "mixture", None)}


def _picture(caption: str, png: bytes | None, pixels: bool = True) -> dict[str, Any]:
    """A figure of the report; ``pixels``: enlarged pixel art, drawn without smoothing."""
    return {"caption": caption, "src": data_uri(png) if png else None, "pixels": pixels}


def _real_view(real: dict[str, Any], caption: str) -> dict[str, Any]:
    return _picture(caption, real["png"]) if "png" in real else _picture(real["error"], None)


def _first_points(grid: Path) -> Any:
    """The points of a cell's first shard (beside its ``samples.png``), or None."""
    return _points_or_none(grid.parent / "samples" / f"{SHARD.format(0)}.npy")


def _samples_picture(grid: Path, label: str, real: dict[str, Any] | None, points=None, limits=None):
    """A row's samples: its points (the cell's first, where the real data are points)
    re-plotted over the real data within ``limits`` (one range for every panel of a
    protocol), else its grid, enlarged."""
    if points is not None and real is not None:
        png = plots.points_scatter(
            points, label, real["points"], real.get("mixture"), limits=limits
        )
        return _picture(label, png, pixels=False)
    return _picture(label, plots.upscaled(grid.read_bytes()))


def _points_or_none(path: Path) -> Any:
    """The first points of a shard, or None (with a warning) when it is not (N, 2) floats:
    the report is derived, a damaged shard is for `scorebench sample` to draw again."""
    import numpy as np

    if not path.is_file():
        return None
    try:
        points = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        points, why = None, str(exc)
    else:
        why = f"dtype {points.dtype}, shape {points.shape}"
    if points is None or points.dtype.kind != "f" or points.ndim != 2 or points.shape[1] != 2:
        warnings.warn(f"{path} is not a shard of 2-D points ({why}); left out", stacklevel=3)
        return None
    return points[:MAX_POINTS]


def _group_view(g: dict[str, Any], differs: str | None, real_data: RealData) -> dict[str, Any]:
    heads, rows = leaderboard.table(g)
    spec = g.get("spec") or {}
    reference = spec.get("reference") or {}
    real = None
    if reference.get("dataset"):
        real = real_data.get(
            reference["dataset"], reference.get("dataset_params") or {}, reference.get("split")
        )
    pictures = []
    if real is not None and real.get("kind") != "points":
        split = reference.get("split")
        pictures.append(_real_view(real, f"real data ({reference['dataset']} {split})"))
    shown = [(r, Path(r["grid"])) for r in g["rows"] if r.get("grid") and Path(r["grid"]).is_file()]
    drawn, limits = [None] * len(shown), None
    if real is not None and real.get("kind") == "points":
        drawn = [_first_points(grid) for _, grid in shown]  # each shard read once
        limits = plots.square_limits(real["points"], *[p for p in drawn if p is not None])
    for (r, grid), points in zip(shown, drawn, strict=True):
        label = f"{leaderboard.row_label(r)} / {r.get('sampler_label', r['sampler'])}"
        pictures.append(_samples_picture(grid, label, real, points, limits))
    nfe_plot = plots.quality_vs_nfe(g)
    return {
        "group": g,
        "differs": differs,
        "heads": heads,
        "rows": rows,
        "titles": [
            _seed_titles(r, g["columns"], len(cells))
            for r, (cells, _) in zip(g["rows"], rows, strict=True)
        ],
        "ranked_by": leaderboard.label(g["ranked_by"]) if g.get("ranked_by") else None,
        "scale": leaderboard.scale_note(g),
        "samplers": leaderboard.sampler_settings(g),
        "winners": leaderboard.winners_text(g),
        "citation": _citation(g.get("citation")),
        "nfe_plot": data_uri(nfe_plot) if nfe_plot else None,
        "pictures": pictures,
    }


def _seed_titles(row: dict[str, Any], columns: list[str], width: int) -> list[str]:
    """Per cell of a table row, its per-seed values (shown on hover): metric columns only,
    which follow the 4 leading columns of :func:`leaderboard.table`."""
    titles = [""] * width
    for i, key in enumerate(columns, 4):
        values = (row.get("by_seed") or {}).get(key)
        if values and len(values) > 1:
            titles[i] = ", ".join(f"seed {s}: {leaderboard.fmt(v)}" for s, v in values.items())
    return titles


ARXIV = re.compile(r"arXiv (\d{4}\.\d{4,5})")


def _citation(cite: dict[str, Any] | None) -> dict[str, Any] | None:
    """A paper table's source, with its arXiv numbers as links."""
    if not cite:
        return None
    paper = cite.get("paper", "")
    links = [f"https://arxiv.org/abs/{n}" for n in ARXIV.findall(paper)]
    return {**cite, "links": links}


def _json_or_none(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as exc:
        warnings.warn(f"{path} is damaged ({exc}); the report leaves it out", stacklevel=3)
        return None


def _mapping_or_empty(path: Path, model: type | None = None) -> dict[str, Any]:
    """A run file shown in the report; one of the wrong shape is left out with a warning."""
    data = _json_or_none(path)
    if data is None:
        return {}
    why = problems(model, data) if model else None if isinstance(data, dict) else "not a mapping"
    if why is not None:
        warnings.warn(f"{path} is damaged ({why}); the report leaves it out", stacklevel=3)
        return {}
    return data


def _loss_plots(run: RunDir) -> list[tuple[str, str]]:
    """Training loss, and loss per noise level; rows a reader cannot plot are left out with
    a warning (the report is derived, the run is not touched)."""
    rows = [r for r in read_jsonl(run.metrics) if "loss" in r]
    records = [
        r
        for r in rows
        if is_finite_number(r.get("step")) and is_finite_number(r["loss"]) and r["loss"] > 0
    ]
    if len(records) < len(rows):
        warnings.warn(
            f"{run.metrics}: left {len(rows) - len(records)} bad row(s) out of the loss plot",
            stacklevel=2,
        )
    if not records:
        return []
    steps = [r["step"] for r in records]
    out = [("training loss", plots.curve(steps, [r["loss"] for r in records], "loss", log=True))]
    per_level = [r.get("loss_per_level") for r in records]
    if all(
        isinstance(p, list) and all(v is None or is_finite_number(v) for v in p) for p in per_level
    ):
        out.append(("loss per noise level", plots.level_curves(steps, per_level)))
    return [(title, data_uri(png)) for title, png in out]


def _selection_plot(run: RunDir) -> list[tuple[str, str]]:
    """Metric vs training step from checkpoint selection (``selection.json``)."""
    chosen = _json_or_none(run.selection)
    if chosen is None:
        return []
    try:
        steps = sorted(chosen["values"], key=int)
        values = [float(chosen["values"][s]) for s in steps]
        title = f"{chosen['metric']} (n={chosen['n']})"
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        warnings.warn(
            f"selection.json of {run.path} is damaged ({exc}); its plot is left out", stacklevel=2
        )
        return []
    png = plots.curve([int(s) for s in steps], values, title, log=False)
    return [(f"{chosen['metric']} vs training step", data_uri(png))]


def _run_pictures(
    run: RunDir, config: dict[str, Any], real_data: RealData, shown: dict[str, set]
) -> list[dict]:
    """The run's newest training grid beside its training data (images), or the points of
    its newest evaluation over the real points and true modes; what a protocol table above
    already shows (the same real data, an evaluation of this run) is not repeated."""
    data = config.get("data") or {}
    if not data.get("name"):
        return []
    real = real_data.get(data["name"], data.get("params") or {}, "train", data.get("root"))
    if real.get("kind") == "points":
        grids = sorted(run.evals.glob(f"*/{GRID_FILE}"), key=lambda p: p.stat().st_mtime_ns)
        if not grids or any(str(g.resolve()) in shown["grids"] for g in grids):
            return []
        spec = _mapping_or_empty(grids[-1].parent / "spec.json")
        sampler = spec.get("sampler") if isinstance(spec.get("sampler"), dict) else {}
        params = sampler.get("params") if isinstance(sampler.get("params"), dict) else {}
        caption = f"newest evaluation: {sampler_text({**sampler, 'params': params})}"
        return [_samples_picture(grids[-1], caption, real, _first_points(grids[-1]))]
    pictures = []
    if (data["name"], "train") not in shown["real"]:
        pictures.append(_real_view(real, f"training data ({data['name']})"))
    grids = sorted(run.grids.glob("step-*.png")) if run.grids.is_dir() else []
    if grids:
        step = int(grids[-1].stem.split("-")[1])
        caption = f"samples at step {step} (the run's own sampler)"
        pictures.append(_picture(caption, plots.upscaled(grids[-1].read_bytes())))
    return pictures


def _run_view(path: Path, real_data: RealData, shown: dict[str, set]) -> dict[str, Any]:
    run = RunDir(path)
    config = _mapping_or_empty(run.config)
    manifest = _mapping_or_empty(run.manifest, Manifest)
    command = manifest.get("command")
    details = {k: v for k, v in manifest.items() if k not in ("command", "git_commit")}
    return {
        "name": run.path.resolve().name,
        "path": str(run.path),
        "pictures": _run_pictures(run, config, real_data, shown),
        "plots": _loss_plots(run) + _selection_plot(run),
        "config": json.dumps(config, indent=2) if config else None,
        "command": shlex.join(["scorebench", *command[1:]]) if isinstance(command, list) else None,
        "commit": manifest.get("git_commit"),
        "versions": json.dumps(details, indent=2) if details else None,
    }


def render(board: dict[str, Any], run_dirs: list[Path]) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("scorebench.report", "templates"),
        autoescape=select_autoescape(default=True),
    )
    real_data = RealData()
    differs = leaderboard.differences(board["groups"])
    command, spec = leaderboard.bench_lines(board)
    shown = _shown(board)
    return env.get_template("report.html.j2").render(
        groups=[_group_view(g, differs.get(g["fingerprint"]), real_data) for g in board["groups"]],
        runs=[_run_view(Path(r), real_data, shown) for r in run_dirs],
        bench_command=command,
        bench_spec=spec,
    )


def _shown(board: dict[str, Any]) -> dict[str, set]:
    """What the protocol tables show: sample grids (resolved paths) and real data
    (dataset, split)."""
    grids = {
        str(Path(r["grid"]).resolve()) for g in board["groups"] for r in g["rows"] if r.get("grid")
    }
    real = set()
    for g in board["groups"]:
        reference = (g.get("spec") or {}).get("reference") or {}
        if reference.get("dataset"):
            real.add((reference["dataset"], reference.get("split")))
    return {"grids": grids, "real": real}


def nfe_plots(board: dict[str, Any]) -> dict[str, bytes]:
    """``quality-vs-nfe-<fingerprint>.png`` files for the groups that have one."""
    out = {}
    for g in board["groups"]:
        png = plots.quality_vs_nfe(g)
        if png:
            out[f"quality-vs-nfe-{g['fingerprint'].replace(':', '-')}.png"] = png
    return out
