"""Compare two results with thresholds: the hook for CI regression gates."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scorebench.errors import ScorebenchError
from scorebench.report.leaderboard import LOWER_IS_BETTER

#: Without --threshold, these metrics are gated, each allowed to worsen by 10% (relative);
#: the others are shown but not gated (near-zero metrics such as KID make relative noisy).
DEFAULT_GATES = {"fid": -0.10, "isc_mean": -0.10, "swd": -0.10, "mode_weight_error": -0.10}


@dataclass
class Change:
    metric: str
    base: float
    new: float
    allowed: float | None  # None: shown, not gated
    regressed: bool


def load_result(path: str | Path, row: str | None = None) -> dict[str, Any]:
    """A result record: a ``results.json``, a run directory, or a leaderboard JSON plus the
    model name of one of its rows (``--row``; default: the first row from a run)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    if not path.is_file():
        raise ScorebenchError(f"{path} does not exist: give a results.json, run dir or leaderboard")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ScorebenchError(f"{path} is not valid JSON: {exc}") from exc
    if "groups" not in data:
        return data
    for group in data["groups"]:
        for r in group["rows"]:
            if (row is None and r["origin"] == "this run") or r["model"] == row:
                return {"metrics": r["metrics"], "fingerprint": group["fingerprint"]}
    raise ScorebenchError(f"leaderboard {path} has no row {row or '(from a run)'!r}")


def parse_thresholds(items: list[str]) -> dict[str, float]:
    """``fid=2.0`` (absolute worsening allowed) or ``fid=5%`` (relative)."""
    out: dict[str, float] = {}
    for item in items:
        metric, sep, value = item.partition("=")
        try:
            out[metric.strip()] = -float(value[:-1]) / 100 if value.endswith("%") else float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ScorebenchError(f"--threshold {item!r}: expected METRIC=NUMBER or METRIC=N%")
    return out


def compare(
    base: dict[str, Any], new: dict[str, Any], thresholds: dict[str, float]
) -> list[Change]:
    """Changes of every numeric metric both have; a negative threshold is relative."""
    if base.get("fingerprint") != new.get("fingerprint"):
        raise ScorebenchError(
            f"the results were measured under different protocols (fingerprints "
            f"{base.get('fingerprint')} vs {new.get('fingerprint')}); they are not comparable"
        )
    gates = thresholds or DEFAULT_GATES
    unknown = set(thresholds) - set(base["metrics"])
    if unknown:
        raise ScorebenchError(
            f"--threshold for {', '.join(sorted(unknown))}: not in the results; they have "
            f"{', '.join(sorted(base['metrics']))}"
        )
    changes = []
    for metric, b in base["metrics"].items():
        n = new["metrics"].get(metric)
        if not isinstance(b, (int, float)) or not isinstance(n, (int, float)):
            continue
        limit = gates.get(metric)
        if limit is None:
            changes.append(Change(metric, b, n, None, False))
            continue
        allowed = abs(b) * -limit if limit < 0 else limit
        worse = (n - b) if metric in LOWER_IS_BETTER else (b - n)
        changes.append(Change(metric, b, n, allowed, worse > allowed))
    return changes
