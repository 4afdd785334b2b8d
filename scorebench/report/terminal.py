"""Short summaries of records for the terminal (the full records are behind ``--json``)."""

from __future__ import annotations

from typing import Any

from scorebench.report.leaderboard import describe, direction, fmt, label, metric_values


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
    ranked = metric_values()
    for key, value in record["metrics"].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            arrow = f" {direction(key)}" if key in ranked else ""  # details have no direction
            table.add_row(f"{label(key)}{arrow}", fmt(value))
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


def bench_status_table(title: str, varied: list[str], rows: list[dict[str, Any]]):
    """One line per cell of ``bench --status``: its sampler (the swept parameters), seed,
    state and where its worker ran."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for head in ("cell", "sampler", "seed", "state", "job", "host", "elapsed", "log"):
        table.add_column(head, overflow="fold")
    for r in rows:
        s = r["cell"].spec
        params = ", ".join(f"{k}={fmt(s['sampler']['params'].get(k))}" for k in varied)
        sampler = s["sampler"]["name"] + (f" ({params})" if params else "")
        elapsed = "-" if r["elapsed_s"] is None else f"{fmt(r['elapsed_s'])} s"
        table.add_row(
            r["cell"].key[:8], sampler, str(s["seed"]), r["state"],
            str(r.get("job_id") or "-"), r.get("host") or "-", elapsed, r.get("log") or "-",
        )  # fmt: skip
    return table


def bench_status_notes(rows: list[dict[str, Any]], command: str) -> list[tuple[str, str]]:
    """(line, style) pairs under the status table: each failed cell's error tail, and the
    command that computes what is missing when nothing is running."""
    lines = []
    for r in rows:
        if r["state"] == "failed":
            lines.append((f"failed {r['cell'].key[:8]} ({r['cell'].path}):", "red"))
            lines.append(("\n".join(r.get("error", "").splitlines()[-4:]), ""))
    states = [r["state"] for r in rows]
    if states.count("done") < len(rows) and "running" not in states:
        lines.append((f"to compute what is missing: {command}", ""))
    return lines
