"""Leaderboards: evaluations and baselines grouped by protocol, never ranked across them.

Inside a protocol group, the evaluations of one cell spec that differ only in their seed
form one row: each metric is the mean over seeds with a 95% Student-t interval. Cells that
share a seed share their initial noise, so two rows are compared by the paired difference
over their common seeds: a row that a paired t-test (5%) cannot separate from the first row
of its rank shares that rank (shown ``3=``), and each NFE budget names its winner, the
margin over the runner-up and whether it is significant.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import PurePath
from typing import Any

import yaml

from scorebench.config import flatten
from scorebench.metrics.protocol import protocol_fingerprint
from scorebench.plugins import registry


def metric_values() -> dict[str, tuple[str, bool]]:
    """Every value the registered metrics declare (``MetricMeta.values``): key -> (label, lower
    is better), ordered by the components' ``MetricMeta.order`` (default 100), which is also the
    tables' column order: the first column a group has ranks it."""
    out: dict[str, tuple[str, bool]] = {}
    for component in sorted(registry("metrics"), key=lambda c: c.meta.order):
        for key, (label, better) in component.meta.values.items():
            out.setdefault(key, (label, better == "lower"))
    return out


def default_gates() -> dict[str, float]:
    """The regression gates the registered metrics declare (``MetricMeta.gates``): value key ->
    allowed relative worsening (negative)."""
    return {k: v for c in registry("metrics") for k, v in c.meta.gates.items()}


def label(metric: str) -> str:
    return metric_values().get(metric, (metric, False))[0]


def lower_is_better(metric: str) -> bool:
    """From the metric's declaration; a value nothing declares counts as higher-is-better."""
    return metric_values().get(metric, (metric, False))[1]


ORIGIN_RUN = "run"
#: The label of an oracle's reference row (exact draws of the true distribution).
EXACT_SAMPLES = "exact samples"


def interval95(values: list[float]) -> float | None:
    """Half-width of the 95% Student-t interval of the mean (None for one value)."""
    if len(values) < 2:
        return None
    from scipy.stats import t

    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return float(t.ppf(0.975, len(values) - 1) * sd / math.sqrt(len(values)))


def mean_metrics(measured: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The mean of each metric that is a number in every measurement (others: the first's),
    and its 95% interval."""
    metrics, intervals = dict(measured[0]), {}
    for key in measured[0]:
        values = [m.get(key) for m in measured]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            metrics[key] = sum(values) / len(values)
            intervals[key] = interval95(values)
    return metrics, intervals


def _row_spec(record: dict[str, Any]) -> dict[str, Any]:
    """What identifies a row: the cell's sampling spec without its seed (and the run)."""
    spec = dict(record.get("cell", {}).get("spec") or {})
    spec.pop("seed", None)
    return {"run": record.get("run", {}).get("path"), "spec": spec}


def _run_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (run, spec without seed), seeds aggregated."""
    buckets: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        buckets.setdefault(protocol_fingerprint(_row_spec(record)), []).append(record)
    rows = []
    for bucket in buckets.values():
        bucket.sort(key=lambda r: r.get("cell", {}).get("spec", {}).get("seed", 0))
        first = bucket[0]
        run = first.get("run", {})
        spec = first.get("cell", {}).get("spec", {})
        sampling = [r.get("cell", {}).get("sampling", {}) for r in bucket]
        seeds = [r.get("cell", {}).get("spec", {}).get("seed") for r in bucket]
        metrics, intervals = mean_metrics([r["metrics"] for r in bucket])
        for key in _model_metric_keys():  # one value per model: no spread over seeds
            intervals.pop(key, None)
        by_seed = {
            key: {str(s): r["metrics"][key] for s, r in zip(seeds, bucket, strict=True)}
            for key in intervals
        }
        source = spec.get("source", {})
        oracle = source.get("kind") == "score_function"
        rows.append(
            {
                "model": _source_label(source) if oracle else run.get("name") or "?",
                "step": source.get("step"),
                "origin": ORIGIN_RUN,
                "sampler": spec.get("sampler", {}).get("name", "?"),
                "sampler_params": spec.get("sampler", {}).get("params", {}),
                "metrics": metrics,
                "intervals": intervals,
                "by_seed": by_seed,
                "seeds": seeds,
                "n_samples": first.get("n_samples"),
                "nfe": sampling[0].get("nfe_per_sample"),
                "samples_per_s": _mean([s.get("samples_per_s") for s in sampling]),
                "wall_s": _mean(
                    [
                        (s.get("seconds") or 0) + (r.get("seconds") or 0)
                        for s, r in zip(sampling, bucket, strict=True)
                    ]
                ),
                "source": run.get("path"),
                "cells": [r.get("cell", {}).get("key") for r in bucket],
                "grid": first.get("cell", {}).get("grid"),
                "match": {  # what compare pairs rows on: not paths, not the weights' bytes
                    "recipe": run.get("recipe"),
                    "dataset": run.get("dataset"),
                    "step": source.get("step"),
                    **{k: v for k, v in spec.items() if k not in ("source", "seed")},
                    "seeds": seeds,
                },
            }
        )
    return rows


def _mean(values: list[Any]) -> float | None:
    numbers = [v for v in values if isinstance(v, (int, float))]
    return sum(numbers) / len(numbers) if numbers else None


def _baseline_rows(table: dict[str, Any]):
    """(group key, protocol label, dataset, what the group knows, row) for each row of a
    baseline table: a paper table's group knows its citation, a measured row's group its
    protocol."""
    out = []
    for row in table["rows"]:
        if table.get("origin") == "paper":
            key = f"paper:{table['id']}"
            label = table["protocol"]["description"]
            cite = table["source"]
            source = f"{cite.get('paper', '')} {cite.get('table', '')}".strip()
            known = {"citation": {**cite, "title": table.get("title"), "notes": table.get("notes")}}
        else:
            key = row["fingerprint"]
            label = describe(row["protocol"], row["n_samples"])
            source = table["source"].get("command", "")
            known = {"spec": row["protocol"]}
        out.append(
            (
                key,
                label,
                table.get("dataset", "?"),
                known,
                {
                    "model": row["model"] + (" (conditional)" if row.get("conditional") else ""),
                    "origin": "paper" if table.get("origin") == "paper" else "measured",
                    "sampler": None,
                    "metrics": row["metrics"],
                    "intervals": row.get("intervals", {}),
                    "n_samples": row.get("n_samples"),
                    "nfe": row.get("nfe"),
                    "source": source,
                },
            )
        )
    return out


def build(results: list[dict[str, Any]], tables: list[dict[str, Any]]) -> dict[str, Any]:
    """Group evaluation records and baseline rows by protocol fingerprint; rank inside groups."""
    groups: dict[str, dict[str, Any]] = {}

    def group(key: str, label: str, dataset: str, known: dict[str, Any]) -> dict[str, Any]:
        g = groups.setdefault(
            key, {"fingerprint": key, "protocol": label, "dataset": dataset, "rows": []}
        )
        g.update({k: v for k, v in known.items() if k not in g})
        return g

    by_fingerprint: dict[str, list[dict[str, Any]]] = {}
    for record in _newest_per_cell(results):
        by_fingerprint.setdefault(record["fingerprint"], []).append(record)
    for fingerprint, records in by_fingerprint.items():
        first = records[0]
        label = describe(first["protocol"], first["n_samples"])
        g = group(fingerprint, label, first.get("dataset", "?"), {"spec": first["protocol"]})
        model_protocol, records = _one_model_protocol(records)
        if model_protocol:
            g["model_protocol"] = model_protocol
        g["rows"] += _run_rows(records)
    for table in tables:
        for key, label, dataset, known, row in _baseline_rows(table):
            group(key, label, dataset, known)["rows"].append(row)
    for g in groups.values():
        _label_samplers(g["rows"])
        g["columns"] = [c for c in metric_values() if any(c in r["metrics"] for r in g["rows"])]
        if g["columns"]:
            key = g["columns"][0]
            sign = 1 if lower_is_better(key) else -1
            g["rows"].sort(
                key=lambda r: (r["metrics"].get(key) is None, sign * (r["metrics"].get(key) or 0))
            )
            g["ranked_by"] = key
            _rank(g["rows"], key)
            g["budgets"] = budget_winners(g["rows"], key)
    for g in groups.values():
        for row in g["rows"]:
            row["metrics"] = with_fidelity_keys(row["metrics"])
    # Groups holding evaluations of runs first.
    ordered = sorted(
        groups.values(), key=lambda g: not any(r["origin"] == ORIGIN_RUN for r in g["rows"])
    )
    return {"groups": ordered}


#: What a table's ± is. Student's t is wide at few seeds (t = 12.7 at 2, 4.3 at 3).
INTERVAL_NOTE = (
    "mean ± 95% Student-t interval over seeds (per-seed values: by_seed in leaderboard.json)"
)

#: torch-fidelity's name for each value it computes that scorebench names otherwise: JSON
#: output carries both, so parsers written for torch-fidelity's dict read it unchanged.
FIDELITY_KEYS = {
    "isc_mean": "inception_score_mean",
    "isc_std": "inception_score_std",
    "fid": "frechet_inception_distance",
    "kid_mean": "kernel_inception_distance_mean",
    "kid_std": "kernel_inception_distance_std",
}


def with_fidelity_keys(metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` plus torch-fidelity's key for each value it has one for."""
    return {**metrics, **{FIDELITY_KEYS[k]: v for k, v in metrics.items() if k in FIDELITY_KEYS}}


def _newest_per_cell(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest record of each (cell, protocol): a cell evaluated again with a model
    metric added is one row, not two seeds."""
    newest: dict[Any, dict[str, Any]] = {}
    for i, record in enumerate(records):
        cell = (record.get("cell") or {}).get("sampling_key")
        newest[(cell, record["fingerprint"]) if cell else i] = record
    return list(newest.values())


def _one_model_protocol(records: list[dict[str, Any]]) -> tuple[dict | None, list[dict]]:
    """A table's model metrics come from one protocol (the most common among the records
    that measured them); values measured under another are left out, and counted."""
    measured = [
        r["model_metrics"] for r in records if (r.get("model_metrics") or {}).get("measured")
    ]
    if not measured:
        return None, records
    chosen = Counter(m["fingerprint"] for m in measured).most_common(1)[0][0]
    keys = _model_metric_keys()
    kept, left_out = [], 0
    for r in records:
        if (r.get("model_metrics") or {}).get("fingerprint") == chosen or not keys & set(
            r["metrics"]
        ):
            kept.append(r)
        else:
            left_out += 1
            kept.append({**r, "metrics": {k: v for k, v in r["metrics"].items() if k not in keys}})
    protocol = next(m["protocol"] for m in measured if m["fingerprint"] == chosen)
    return {"fingerprint": chosen, "protocol": protocol, "left_out": left_out}, kept


def _model_metric_keys() -> set[str]:
    return {k for c in registry("metrics") if c.meta.type == "model-metric" for k in c.meta.values}


def model_protocol_note(group: dict[str, Any]) -> str | None:
    """The model metrics' protocol of a group, in one sentence."""
    model = group.get("model_protocol")
    if not model:
        return None
    shown = ("solver", "rtol", "atol", "divergence", "probes", "split", "n")
    parts = [
        f"{name} " + ", ".join(f"{k} {settings[k]}" for k in shown if k in settings)
        for name, settings in model["protocol"].items()
    ]
    left = model.get("left_out")
    tail = f"; {left} value(s) under another model protocol left out" if left else ""
    return f"Model metrics (protocol {model['fingerprint']}): {'; '.join(parts)}{tail}."


def paired(a: dict[str, Any], b: dict[str, Any], key: str) -> dict[str, Any] | None:
    """``b - a`` in ``key`` over the seeds both rows ran: the mean difference, its 95%
    interval and the two-sided p-value of a paired t-test (None below two common seeds)."""
    sa, sb = a.get("by_seed", {}).get(key, {}), b.get("by_seed", {}).get(key, {})
    diffs = [sb[s] - sa[s] for s in sorted(set(sa) & set(sb))]
    if len(diffs) < 2:
        return None
    from scipy.stats import ttest_1samp

    mean = sum(diffs) / len(diffs)
    same = all(d == diffs[0] for d in diffs)  # no spread: a t-test is undefined
    p = (1.0 if mean == 0 else 0.0) if same else float(ttest_1samp(diffs, 0.0).pvalue)
    return {"difference": mean, "interval": interval95(diffs), "p": p, "seeds": len(diffs)}


def _rank(rows: list[dict[str, Any]], key: str) -> None:
    """``rank``: the row's place, shared (``3=``) with the first row of its rank when the
    paired difference between them is not significant at 5%."""
    leader = None
    for place, r in enumerate(rows, 1):
        if r["metrics"].get(key) is None:
            r["rank"] = str(place)
            continue
        test = paired(leader, r, key) if leader is not None else None
        if test is not None and test["p"] >= 0.05:
            r["rank"] = leader["rank"] = f"{leader['rank'].rstrip('=')}="
        else:
            leader, r["rank"] = r, str(place)


def budget(nfe: float) -> int:
    """The NFE budget a row was run at: the nearest of 1, 2, 5 x 10^k in log scale (a Heun
    sampler's 2n - 1 evaluations count as 2n)."""
    grid = [m * 10**k for k in range(7) for m in (1, 2, 5)]
    return min(grid, key=lambda b: abs(math.log(nfe / b)))


def budget_winners(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Per NFE budget, the best run row, its margin over the runner-up (paired over seeds)
    and whether that margin is significant; rows are in rank order already."""
    by_budget: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        if r["origin"] == ORIGIN_RUN and r.get("nfe") and r["metrics"].get(key) is not None:
            by_budget.setdefault(budget(r["nfe"]), []).append(r)
    out = []
    for nfe, same in sorted(by_budget.items()):
        if len(same) < 2:
            continue
        test = paired(same[0], same[1], key)
        out.append(
            {
                "nfe": nfe,
                "winner": same[0].get("sampler_label") or same[0]["sampler"],
                "runner_up": same[1].get("sampler_label") or same[1]["sampler"],
                "value": same[0]["metrics"][key],
                "margin": abs(same[1]["metrics"][key] - same[0]["metrics"][key]),
                "interval": test and test["interval"],
                "significant": test is not None and test["p"] < 0.05,
            }
        )
    return out


def winners_text(group: dict[str, Any]) -> list[str]:
    """One line per NFE budget: who wins, by how much, and whether it is resolved."""
    key = group.get("ranked_by")
    lines = []
    for b in group.get("budgets") or []:
        margin = fmt(b["margin"]) + (f" ± {fmt(b['interval'])}" if b["interval"] else "")
        verdict = "significant" if b["significant"] else "a tie at 5%"
        lines.append(
            f"NFE {b['nfe']}: {b['winner']} ({label(key)} {fmt(b['value'])}) ahead of "
            f"{b['runner_up']} by {margin} (paired over seeds, {verdict})"
        )
    return lines


def _by_sampler(rows: list[dict[str, Any]]) -> dict[str, tuple[list[dict], list[str], list[str]]]:
    """Per sampler name: its rows, every parameter key they ran with, and the keys whose
    values differ between them."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("sampler"):
            by_name.setdefault(r["sampler"], []).append(r)
    out = {}
    for name, same in by_name.items():
        params = [r.get("sampler_params") or {} for r in same]
        keys = sorted({k for p in params for k in p})
        varying = [k for k in keys if len({repr(p.get(k)) for p in params}) > 1]
        out[name] = (same, keys, varying)
    return out


def _label_samplers(rows: list[dict[str, Any]]) -> None:
    """``sampler_label``: the name plus the parameters that differ between the group's rows
    of that sampler (the full parameters are in the JSON)."""
    for name, (same, _, varying) in _by_sampler(rows).items():
        for r in same:
            shown = ", ".join(f"{k}={fmt(r['sampler_params'].get(k))}" for k in varying)
            r["sampler_label"] = f"{name} ({shown})" if shown else name


def sampler_settings(g: dict[str, Any]) -> list[str]:
    """Per sampler of the group: every parameter its rows ran with, defaults included
    (``auto``: the sampler chooses, e.g. the model's sigma range); parameters that differ
    between its rows are named, their values being in each row's label."""
    lines = []
    for name, (same, keys, varying) in _by_sampler(g["rows"]).items():
        first = same[0].get("sampler_params") or {}
        common = ", ".join(
            f"{k}={'auto' if first.get(k) is None else fmt(first[k])}"
            for k in keys
            if k not in varying
        )
        per_row = f"; per row: {', '.join(varying)}" if varying else ""
        lines.append(f"{name}: {common or 'no parameters'}{per_row}")
    return lines


def bench_lines(board: dict[str, Any]) -> tuple[str | None, str | None]:
    """The command and the spec (YAML) of the bench that made the board, if one did."""
    bench = board.get("bench") or {}
    spec = bench.get("spec")
    text = yaml.safe_dump(json.loads(json.dumps(spec)), sort_keys=False) if spec else None
    return bench.get("command"), text


#: Plain words for protocol keys that tell sibling groups apart (others are named as keys).
DIFFERENCE_WORDS = {
    "extractor.weights_sha256": "feature-network weights differ",
    "reference.extractor.weights_sha256": "feature-network weights differ",
    "reference.data_identity": "the reference data differ",
    "seed": "eval.seed differs",
    "reference.dataset_params": "dataset parameters differ",
}


def differences(groups: list[dict[str, Any]]) -> dict[str, str]:
    """For groups that share a heading (dataset and protocol label), what sets each apart
    from the others, by fingerprint: 'feature-network weights differ', or the keys."""
    by_heading: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for g in groups:
        by_heading.setdefault((g["dataset"], g["protocol"]), []).append(g)
    out = {}
    for same in by_heading.values():
        if len(same) < 2:
            continue
        flat = [flatten(g.get("spec") or {}) for g in same]
        keys = sorted({k for f in flat for k in f})
        varying = [k for k in keys if len({repr(f.get(k)) for f in flat}) > 1]
        words = sorted({DIFFERENCE_WORDS.get(k, k) for k in varying}) or ["nothing recorded"]
        for g in same:
            out[g["fingerprint"]] = "differs from its sibling tables in: " + "; ".join(words)
    return out


def scale_note(group: dict[str, Any]) -> str | None:
    """What scale a group's numbers are on, as the metric components declare it
    (``MetricMeta.scale``): the group's feature extractor, or else the metrics of its columns."""
    spec = group.get("spec")
    if not spec:  # a paper's table: its protocol is words, not ours
        return None
    extractor = (spec.get("extractor") or {}).get("name")
    columns = set(group.get("columns", ()))
    components = sorted(registry("metrics"), key=lambda c: c.meta.order)
    if extractor:
        sources = [c for c in components if c.name == extractor]
        sources += [
            c for c in components if c.meta.type == "model-metric" and columns & set(c.meta.values)
        ]
    else:
        sources = [c for c in components if columns & set(c.meta.values)]
    notes = [c.meta.scale for c in sources if c.meta.scale] + [model_protocol_note(group)]
    return " ".join(n for n in notes if n) or None


def describe(protocol: dict[str, Any], n_samples: Any) -> str:
    if protocol.get("kind") == "points":
        return (
            f"points: {', '.join(protocol.get('metrics', []))}; "
            f"n={n_samples} vs {protocol.get('reference', {}).get('split', '?')}"
        )
    extractor = protocol.get("extractor", {}).get("name", "?")
    reference = protocol.get("reference") or {}
    return (
        f"{extractor} features, {protocol.get('engine', '?')}; n={n_samples} "
        f"vs {reference.get('dataset', '?')} {reference.get('split', '?')} "
        f"(n={reference.get('n_reference', '?')})"
    )


def direction(metric: str) -> str:
    """↓ for a metric where lower is better, ↑ otherwise."""
    return "↓" if lower_is_better(metric) else "↑"


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0f}" if 1e4 <= abs(value) < 1e9 else f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def _metric_cell(row: dict[str, Any], key: str, sep: str = " ") -> str:
    value, half = row["metrics"].get(key), row.get("intervals", {}).get(key)
    return fmt(value) + (f"{sep}± {_two_digits(half)}" if half is not None else "")


def _two_digits(half: float) -> str:
    """An interval's half-width to two significant digits, without an exponent below 1e9
    (360, not 3.6e+02)."""
    rounded = float(f"{half:.2g}")
    return f"{rounded:.0f}" if 100 <= abs(rounded) < 1e9 else f"{rounded:.2g}"


def _rate(value: Any) -> str:
    """Samples per second: whole numbers from 100 up (never ``2.482e+04``)."""
    return f"{value:.0f}" if isinstance(value, (int, float)) and value >= 100 else fmt(value)


def row_label(row: dict[str, Any]) -> str:
    """``run-name @step`` for a run's row, ``name [origin]`` for a baseline."""
    if row["origin"] != ORIGIN_RUN:
        return f"{row['model']} [{row['origin']}]"
    step = row.get("step")
    return row["model"] + (f" @{step}" if step is not None else "")


def table(
    group: dict[str, Any], interval_sep: str = " "
) -> tuple[list[str], list[tuple[list[str], bool]]]:
    """One group as text: the headers, and per row its cells and whether it is a run's
    (``interval_sep`` goes between a mean and its ± interval)."""
    heads = ["#", "model", "sampler", "NFE"]
    heads += [f"{label(c)} {direction(c)}" for c in group["columns"]]
    heads += ["seeds", "samples/s", "wall s"]  # n is in the protocol: the same for all
    rows = []
    for i, r in enumerate(group["rows"], 1):
        is_run = r["origin"] == ORIGIN_RUN
        model = row_label(r)
        cells = [
            r.get("rank") or str(i),
            model,
            r.get("sampler_label") or "-",
            fmt(r.get("nfe")),
            *[_metric_cell(r, c, interval_sep) for c in group["columns"]],
            str(len(r["seeds"])) if is_run else "-",
            _rate(r.get("samples_per_s")),
            fmt(round(r["wall_s"], 1)) if r.get("wall_s") is not None else "-",
        ]
        rows.append((cells, is_run))
    return heads, rows


def markdown(board: dict[str, Any]) -> str:
    """GitHub-flavoured Markdown: one table per protocol group."""
    lines = ["# scorebench leaderboard", ""]
    command, spec = bench_lines(board)
    if command or spec:
        lines += ["## What was run", ""]
        lines += [f"`{command}`", ""] if command else []
        if spec:
            lines += ["Bench spec (each row's sampler parameters are in leaderboard.json):", ""]
            lines += ["```yaml", spec.rstrip(), "```", ""]
    for g in board["groups"]:
        ranked = f", ranked by {label(g['ranked_by'])}" if g.get("ranked_by") else ""
        lines += [
            f"## {_md_escape(g['dataset'])}: {_md_escape(g['protocol'])}",
            "",
            f"fingerprint `{g['fingerprint']}`{ranked}; {INTERVAL_NOTE}",
            "",
        ]
        if scale_note(g):
            lines += [f"Scale: {_md_escape(scale_note(g))}", ""]
        heads, rows = table(g)
        lines += ["| " + " | ".join(map(_md_escape, heads)) + " |", "|" + "---|" * len(heads)]
        for cells, is_run in rows:
            cells = [_md_escape(c) for c in cells]
            if is_run:
                cells = [cells[0], f"**{cells[1]}**", *cells[2:]]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        settings = sampler_settings(g)
        if settings:
            lines += ["Samplers, every parameter (defaults included):", ""]
            lines += [f"- {_md_escape(line)}" for line in settings] + [""]
        winners = winners_text(g)
        if winners:
            lines += ["Winners by NFE budget (`3=`: tied with the row above it at 5%):", ""]
            lines += [f"- {_md_escape(w)}" for w in winners] + [""]
    lines.append(
        "Numbers of different protocols (fingerprints) are not comparable and are "
        "never ranked together. [paper] rows were typed in from the cited tables; "
        "[measured] rows are recomputed by `scorebench baselines compute`."
    )
    return "\n".join(lines) + "\n"


def _md_escape(text: str) -> str:
    """User text as inert Markdown table content (GitHub renders inline HTML)."""
    for raw, safe in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|")):
        text = text.replace(raw, safe)
    return text


#: Columns left out of terminal tables narrower than WIDE (they stay in the files).
NARROW_DROPS = ("seeds", "samples/s", "wall s")
WIDE = 110


def rich_tables(board: dict[str, Any], width: int = WIDE) -> list[Any]:
    """Terminal tables; below ``WIDE`` columns the seed count and timings are left out
    (the caption says so), and model and sampler names wrap."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    tables = []
    for g in board["groups"]:
        t = Table(
            title=Text(f"{g['dataset']}: {g['protocol']}"),
            title_justify="left",
            caption=f"fingerprint {g['fingerprint']}"
            + (f", ranked by {label(g['ranked_by'])}" if g.get("ranked_by") else "")
            + f"; {INTERVAL_NOTE}"
            + ("; seeds and timings: leaderboard.md" if width < WIDE else "")
            + (f"\nscale: {scale_note(g)}" if scale_note(g) else ""),
            caption_justify="left",
            box=box.SIMPLE_HEAD,  # no vertical rules: 80 columns hold the table
            padding=(0, 1),
            pad_edge=False,
            show_edge=False,
        )
        heads, rows = table(g, interval_sep="\n")  # a number is never broken across lines
        narrow = width < WIDE
        keep = [i for i, h in enumerate(heads) if not (narrow and h in NARROW_DROPS)]
        rows = [([c[i] for i in keep], r) for c, r in rows]
        heads = [heads[i] for i in keep]
        # A sampler's parameters one per line: a label never wraps inside its parentheses.
        rows = [([c[0], c[1], _param_lines(c[2]), *c[3:]], r) for c, r in rows]
        widths = []
        for i, head in enumerate(heads):
            cells = [line for c, _ in rows for line in c[i].split("\n")]
            widths.append(max(map(len, [*cells, *(head.split() if narrow else [head])])))
        # Names wrap at spaces; their longest words stay whole where the numbers leave room
        # (each column boundary takes 3 characters: padding, rule, padding).
        room = width - sum(w for i, w in enumerate(widths) if i not in (1, 2))
        room -= 3 * (len(widths) - 1)
        words = [max(len(w) for c, _ in rows for w in [*c[i].split(), "-"]) for i in (1, 2)]
        if sum(words) > room:
            words = [max(8, room * w // sum(words)) for w in words]
        for i, head in enumerate(heads):
            if i in (1, 2):
                t.add_column(head, overflow="fold", min_width=words[i - 1])
            else:  # numbers keep their width, one per line; headers wrap
                t.add_column(
                    head, overflow="fold", min_width=widths[i], max_width=widths[i], justify="right"
                )
        for cells, is_run in rows:
            # Text, not markup: names come from users and may hold [brackets].
            t.add_row(*map(Text, cells), style="bold green" if is_run else None)
        tables.append(t)
    return tables


def _param_lines(label: str) -> str:
    """``name (a=1, b=2)`` as ``name`` then one ``a=1`` per line."""
    name, sep, params = label.partition(" (")
    return "\n".join([name, *params.rstrip(")").split(", ")]) if sep else label


def _source_label(source: dict[str, Any]) -> str:
    """A score-function source's row name: an oracle's name, or a bridged model's hub id (a
    local model by its directory's name; the JSON has the path)."""
    model = source.get("params", {}).get("model")
    if model is None:
        return f"oracle {source['name']}"
    is_hub_id = model.count("/") == 1 and not model.startswith((".", "/", "~"))
    return f"{source['name']} {model if is_hub_id else PurePath(model).name}"
