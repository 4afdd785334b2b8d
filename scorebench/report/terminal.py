"""Short summaries of records for the terminal (the full records are behind ``--json``)."""

from __future__ import annotations

from typing import Any

from scorebench.report.leaderboard import describe, direction, fmt, label


def sampler_text(sampler: dict[str, Any]) -> str:
    params = ", ".join(f"{k}={fmt(v)}" for k, v in sorted(sampler.get("params", {}).items()))
    return f"{sampler.get('name', '?')}" + (f" ({params})" if params else "")


def sample_summary(record: dict[str, Any]) -> list[str]:
    """Lines saying what was drawn, how fast, and where it is."""
    speed = record.get("samples_per_s")
    return [
        f"{record['n']} samples with {sampler_text(record['sampler'])} from step "
        f"{record['checkpoint_step']}: {record['nfe_per_sample']} NFE per sample, "
        + (f"{speed:.4g} samples/s" if speed else "speed unknown")
        + f" ({record['drawn_now']} drawn now)",
        f"samples: {record['samples']}",
        f"grid:    {record['grid']}",
    ]


def eval_table(record: dict[str, Any]):
    """The metrics of one evaluation record, each with its direction, under its protocol."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    protocol = describe(record["protocol"], record["n_samples"])
    table = Table(box=None)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in record["metrics"].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            table.add_row(f"{label(key)} {direction(key)}", fmt(value))
    check = record.get("cross_check")
    if isinstance(check, dict) and "rel_diff" in check:
        table.add_row("FID cross-check rel. diff", fmt(check["rel_diff"]))
    return Group(
        Text(f"{record.get('dataset', '?')}: {protocol}"),
        Text(f"fingerprint {record['fingerprint']}; ↓ lower is better, ↑ higher is better"),
        table,
    )


def stage_table(timings: dict[str, float | None]):
    """Seconds per stage of ``scorebench run``; None marks a stage skipped as done."""
    from rich.table import Table

    table = Table(title="stages", title_justify="left")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for stage, seconds in timings.items():
        table.add_row(stage, "skipped (done)" if seconds is None else f"{seconds:.1f}")
    return table
