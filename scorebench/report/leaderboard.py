"""Leaderboards: run results and baselines grouped by protocol, never ranked across them."""

from __future__ import annotations

from typing import Any

#: Metrics where lower is better; every other metric is higher-is-better.
LOWER_IS_BETTER = {"fid", "kid_mean", "swd", "mmd2", "mode_weight_error"}
#: Columns shown, in order, when present; the first present one ranks the group.
COLUMNS = ["fid", "isc_mean", "kid_mean", "precision", "recall", "mode_weight_error", "swd", "mmd2"]
LABELS = {
    "fid": "FID",
    "isc_mean": "IS",
    "kid_mean": "KID",
    "precision": "precision",
    "recall": "recall",
    "mode_weight_error": "mode weight err",
    "swd": "SWD",
    "mmd2": "MMD^2",
}


def _result_row(record: dict[str, Any]) -> dict[str, Any]:
    run = record.get("run", {})
    sampling = run.get("sampling", {})
    return {
        "model": f"{run.get('recipe', '?')} ({run.get('path', '?')})",
        "origin": "this run",
        "metrics": record["metrics"],
        "n_samples": record.get("n_samples"),
        "nfe": sampling.get("nfe_per_sample"),
        "source": run.get("path"),
    }


def build(results: list[dict[str, Any]], tables: list[dict[str, Any]]) -> dict[str, Any]:
    """Group run results and baseline rows by protocol fingerprint; rank inside groups."""
    groups: dict[str, dict[str, Any]] = {}

    def group(key: str, label: str, dataset: str) -> dict[str, Any]:
        return groups.setdefault(
            key, {"fingerprint": key, "protocol": label, "dataset": dataset, "rows": []}
        )

    for record in results:
        g = group(record["fingerprint"], _describe(record), record.get("dataset", "?"))
        g["rows"].append(_result_row(record))
    for table in tables:
        for row in table["rows"]:
            if table.get("origin") == "paper":
                key = f"paper:{table['id']}"
                label = table["protocol"]["description"]
                cite = table["source"]
                source = f"{cite.get('paper', '')} {cite.get('table', '')}".strip()
            else:
                key = row["fingerprint"]
                label = _describe({"protocol": row["protocol"], "n_samples": row["n_samples"]})
                source = table["source"].get("command", "")
            g = group(key, label, table.get("dataset", "?"))
            g["rows"].append(
                {
                    "model": row["model"] + (" (conditional)" if row.get("conditional") else ""),
                    "origin": "paper" if table.get("origin") == "paper" else "scorebench-measured",
                    "metrics": row["metrics"],
                    "n_samples": row.get("n_samples"),
                    "nfe": row.get("nfe"),
                    "source": source,
                }
            )
    for g in groups.values():
        g["columns"] = [c for c in COLUMNS if any(c in r["metrics"] for r in g["rows"])]
        if g["columns"]:
            key = g["columns"][0]
            sign = 1 if key in LOWER_IS_BETTER else -1
            g["rows"].sort(
                key=lambda r: (r["metrics"].get(key) is None, sign * (r["metrics"].get(key) or 0))
            )
            g["ranked_by"] = key
    # Groups holding this run's results first.
    ordered = sorted(
        groups.values(), key=lambda g: not any(r["origin"] == "this run" for r in g["rows"])
    )
    return {"groups": ordered}


def _describe(record: dict[str, Any]) -> str:
    protocol = record.get("protocol", {})
    if protocol.get("kind") == "points":
        return (
            f"points: {', '.join(protocol.get('metrics', []))}; "
            f"n={record.get('n_samples')} vs {protocol.get('reference', {}).get('split', '?')}"
        )
    extractor = protocol.get("extractor", {}).get("name", "?")
    reference = protocol.get("reference", {})
    return (
        f"{extractor} features, {protocol.get('engine', '?')}; n={record.get('n_samples')} "
        f"vs {reference.get('dataset', '?')} {reference.get('split', '?')} "
        f"(n={reference.get('n_reference', '?')})"
    )


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def table(group: dict[str, Any]) -> tuple[list[str], list[tuple[list[str], bool]]]:
    """One group as text: the headers, and per row its cells and whether it is this run."""
    heads = ["#", "model", "origin", *[LABELS[c] for c in group["columns"]], "n", "NFE"]
    rows = []
    for i, r in enumerate(group["rows"], 1):
        metrics = [_fmt(r["metrics"].get(c)) for c in group["columns"]]
        cells = [
            str(i),
            r["model"],
            r["origin"],
            *metrics,
            _fmt(r.get("n_samples")),
            _fmt(r.get("nfe")),
        ]
        rows.append((cells, r["origin"] == "this run"))
    return heads, rows


def markdown(board: dict[str, Any]) -> str:
    """GitHub-flavoured Markdown: one table per protocol group."""
    lines = ["# scorebench leaderboard", ""]
    for g in board["groups"]:
        ranked = f", ranked by {LABELS[g['ranked_by']]}" if g.get("ranked_by") else ""
        lines += [
            f"## {g['dataset']}: {g['protocol']}",
            "",
            f"fingerprint `{g['fingerprint']}`{ranked}",
            "",
        ]
        heads, rows = table(g)
        lines += ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
        for cells, is_run in rows:
            if is_run:
                cells = [cells[0], f"**{cells[1]}**", *cells[2:]]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(
        "Numbers of different protocols (fingerprints) are not comparable and are "
        "never ranked together. Paper rows were typed in from the cited tables; "
        "scorebench-measured rows are recomputed by `scorebench baselines compute`."
    )
    return "\n".join(lines) + "\n"


def rich_tables(board: dict[str, Any]) -> list[Any]:
    from rich.table import Table

    tables = []
    for g in board["groups"]:
        t = Table(
            title=f"{g['dataset']}: {g['protocol']}",
            title_justify="left",
            caption=f"fingerprint {g['fingerprint']}",
        )
        heads, rows = table(g)
        for head in heads:
            t.add_column(head)
        for cells, is_run in rows:
            t.add_row(*cells, style="bold green" if is_run else None)
        tables.append(t)
    return tables
