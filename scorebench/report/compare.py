"""Compare two sets of results cell by cell with thresholds: the hook for CI regression gates.

Both sides become leaderboards (a run directory, a bench or report directory, a
``leaderboard.json`` or one result record). A row of BASE is compared with the row of NEW
that has the same protocol fingerprint and the same spec (recipe, dataset, training step,
sampler and its parameters, n, init, precision): where the runs live and the plugin's
version do not matter, so a CI run in a temporary directory matches the committed board.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scorebench.checks import is_finite_number
from scorebench.errors import ScorebenchError
from scorebench.files import read_json
from scorebench.published import published
from scorebench.records import Board, ResultRecord, checked
from scorebench.report.leaderboard import ORIGIN_RUN, build, default_gates, lower_is_better
from scorebench.runs import RunDir
from scorebench.stores import run_results

# Unless --threshold says otherwise, the metrics' declared gates apply (leaderboard.default_gates);
# the other values are shown but not gated (relative changes of near-zero KID are noise).


@dataclass
class Change:
    row: str
    metric: str
    base: float
    new: float
    allowed: float | None  # None: shown, not gated
    regressed: bool


def load_board(path: str | Path) -> dict[str, Any]:
    """A leaderboard from a run directory, a bench/report directory, a leaderboard JSON, a
    single result record, or the name of a leaderboard that ships with scorebench."""
    path = Path(path)
    shipped = published("leaderboards") / f"{path}.json"
    if not path.exists() and path.suffix == "" and shipped.is_file():
        path = shipped
    if path.is_dir():
        if (path / "evals").is_dir():
            return build(run_results(RunDir(path)), [])
        path = path / "leaderboard.json"
    if not path.is_file():
        raise ScorebenchError(
            f"{path} does not exist: give a run directory, a bench directory, a "
            "leaderboard.json, a result record or a shipped leaderboard's name ("
            + ", ".join(sorted(p.stem for p in published("leaderboards").glob("*.json")))
            + ")"
        )
    fix = "Give a leaderboard.json or a result record that scorebench wrote."
    data = read_json(path, "leaderboard or result", fix)
    if isinstance(data, dict) and "groups" in data:
        return checked(Board, data, path, fix)
    if isinstance(data, dict) and "fingerprint" in data:
        return build([checked(ResultRecord, data, path, fix)], [])
    raise ScorebenchError(f"{path} is neither a leaderboard nor a result record. {fix}")


def _rows(board: dict[str, Any], model: str | None):
    """(fingerprint, row) of a board's run rows, or of its rows named ``model``."""
    for group in board["groups"]:
        for r in group["rows"]:
            if (r["origin"] == ORIGIN_RUN) if model is None else (r["model"] == model):
                yield group["fingerprint"], r


def _match_key(row: dict[str, Any]) -> str:
    match = dict(row.get("match") or {})
    sampler = dict(match.get("sampler") or {})
    sampler.pop("plugin_version", None)
    match["sampler"] = sampler
    return json.dumps(match, sort_keys=True)


def pairs(base: dict[str, Any], new: dict[str, Any], row: str | None = None):
    """(base row, new row) pairs to compare. With ``row``, BASE's row of that model name is
    compared with every run row of NEW under the same protocol."""
    news = list(_rows(new, None))
    found = []
    for fingerprint, b in _rows(base, row):
        for fp, n in news:
            if fp == fingerprint and (row is not None or _match_key(b) == _match_key(n)):
                found.append((b, n))
    if found:
        return found
    base_fps = {fp for fp, _ in _rows(base, row)}
    if not base_fps:
        raise ScorebenchError(f"the base has no row {row or '(from a run)'!r} to compare")
    if not base_fps & {fp for fp, _ in news}:
        raise ScorebenchError(
            f"the results were measured under different protocols (fingerprints "
            f"{', '.join(sorted(base_fps))} vs {', '.join(sorted({fp for fp, _ in news})) or '-'}); "
            "they are not comparable"
        )
    raise ScorebenchError(
        "no row of the new results has the spec of a base row (same recipe, dataset, "
        "training step, sampler and parameters, n, init and precision)"
    )


def parse_thresholds(items: list[str]) -> dict[str, float | None]:
    """``fid=2.0`` (absolute worsening allowed), ``fid=5%`` (relative) or ``fid=off`` (shown,
    not gated)."""
    out: dict[str, float | None] = {}
    for item in items:
        metric, sep, value = item.partition("=")
        if sep and value.strip().lower() == "off":
            out[metric.strip()] = None
            continue
        try:
            number = float(value[:-1] if value.endswith("%") else value)
        except ValueError:
            sep = ""
        if not sep or not math.isfinite(number) or number < 0:
            raise ScorebenchError(
                f"--threshold {item!r}: expected METRIC=NUMBER, METRIC=N% (a finite "
                "worsening >= 0) or METRIC=off, e.g. fid=2.5, fid=5% or kid_mean=off"
            )
        out[metric.strip()] = -number / 100 if value.endswith("%") else number
    return out


def compare(
    base: dict[str, Any],
    new: dict[str, Any],
    thresholds: dict[str, float | None],
    row: str | None = None,
) -> list[Change]:
    """Changes of every numeric metric of every matched row pair. ``thresholds`` set or
    replace the default gates per metric (negative: relative; None: not gated). A gated
    metric that NEW lacks, or whose value is not a finite number, is a regression; so is a
    comparison that finds nothing to gate. ``base`` and ``new`` are leaderboards
    (:func:`load_board`)."""
    gates = {**default_gates(), **thresholds}
    changes = []
    matched = pairs(base, new, row)
    _check_thresholds(thresholds, [b for b, _ in matched])
    for b, n in matched:
        label = f"{n['model']} / {n.get('sampler_label') or n.get('sampler') or '-'}"
        for metric, old in b["metrics"].items():
            if not is_finite_number(old):
                continue
            value = n["metrics"].get(metric)
            limit = gates.get(metric)
            allowed = None if limit is None else abs(old) * -limit if limit < 0 else limit
            if not is_finite_number(value):  # missing, null, NaN: a gate cannot pass it
                changes.append(Change(label, metric, old, math.nan, allowed, allowed is not None))
                continue
            if allowed is None:
                changes.append(Change(label, metric, old, value, None, False))
                continue
            worse = (value - old) if lower_is_better(metric) else (old - value)
            changes.append(Change(label, metric, old, value, allowed, worse > allowed))
    if not any(c.allowed is not None for c in changes):
        raise ScorebenchError(
            "nothing to gate: the matched rows share no gated metric with a finite value in "
            f"the base (gates: {', '.join(m for m, g in gates.items() if g is not None)}). "
            "Check that BASE holds numbers, or name a metric with --threshold METRIC=LIMIT."
        )
    return changes


def compare_paths(
    base: str, new: str, thresholds: list[str], row: str | None = None
) -> list[Change]:
    """``scorebench compare BASE NEW -t ...``: the boards read from their paths (or a
    shipped board's name), compared under the default gates changed by ``thresholds``."""
    return compare(load_board(base), load_board(new), parse_thresholds(thresholds), row)


def _check_thresholds(thresholds: dict[str, float | None], rows: list[dict[str, Any]]) -> None:
    """Every --threshold names a numeric metric of the base rows (a misspelt one would
    silently gate nothing)."""
    numeric = {m for r in rows for m, v in r["metrics"].items() if is_finite_number(v)}
    unknown = sorted(set(thresholds) - numeric)
    if unknown:
        raise ScorebenchError(
            f"--threshold for {', '.join(unknown)}: not a numeric metric of the base rows; "
            f"they have {', '.join(sorted(numeric)) or 'none'}"
        )


def table(changes: list[Change]) -> Any:
    """The changes as a rich table: one row per metric of each matched row pair."""
    from rich.table import Table
    from rich.text import Text

    out = Table(title="compare")
    for column in ("row", "metric", "base", "new", "allowed worsening", "status"):
        out.add_column(column, overflow="fold")
    for c in changes:
        gated = c.allowed is not None
        status = (
            Text("REGRESSED", style="red") if c.regressed else Text("ok" if gated else "not gated")
        )
        allowed = f"{c.allowed:.4g}" if gated else "-"
        shown = f"{c.new:.4g}" if math.isfinite(c.new) else "missing or NaN"
        out.add_row(Text(c.row), c.metric, f"{c.base:.4g}", shown, allowed, status)
    return out
