"""Regression tests for the holes an attack on the landed code found (issue 15): values that
ran silently wrong, layers that replaced more than they said, torn logs."""

import json
import os

import pytest

from scorebench.errors import ConfigError, DiskFullError, ScorebenchError
from scorebench.files import append_jsonl, read_jsonl
from scorebench.recipes import resolve_config


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.grad_clip=-1", "grad_clip must be > 0"),
        ("train.grad_clip=0", "grad_clip must be > 0"),
        ("train.lr=nan", "train.lr must be a finite number"),
        ("train.weight_decay=.nan", "train.weight_decay must be a finite number"),
        ("sample.init_low=-.inf", "sample.init_low must be a finite number"),
        ("recipe=other", "recipe cannot be overridden"),
        ("dataset=toy-gmm", "dataset cannot be overridden"),
    ],
)
def test_values_that_used_to_run_wrong_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config("ncsn", "digits", overrides=[override])


def test_an_empty_section_in_a_config_file_changes_nothing(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("train:\n  # nothing here yet\n")
    config = resolve_config("ncsn", "digits", str(file), ["train.lr=1e-4"])
    preset = resolve_config("ncsn", "digits")
    assert config.train.lr == 1e-4
    assert config.train.steps == preset.train.steps == 1500  # not the 200k default


def test_a_config_file_cannot_relabel_the_run(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("dataset: cifar10\n")
    with pytest.raises(ConfigError, match="cannot be overridden"):
        resolve_config("ncsn", "digits", str(file))


def test_an_unknown_baseline_table_is_an_error():
    from scorebench.report.baselines import load_baselines

    with pytest.raises(ScorebenchError, match="no baseline table 'nonexistent'.*known: "):
        load_baselines(["nonexistent"])


@pytest.mark.parametrize("bad", ["swd=nan", "swd=inf", "fid=-1", "fid=-5%", "fid=x"])
def test_a_threshold_that_would_disable_a_gate_is_refused(bad):
    from scorebench.report.compare import parse_thresholds

    with pytest.raises(ScorebenchError, match="finite worsening"):
        parse_thresholds([bad])


def test_a_torn_last_line_never_swallows_the_next_record(tmp_path):
    path = tmp_path / "history.jsonl"
    append_jsonl(path, {"n": 1})
    with open(path, "ab") as fh:
        fh.write(b'{"n": 2, "half": ')  # a writer killed mid-line
    append_jsonl(path, {"n": 3})
    with pytest.warns(UserWarning, match="skipped 1 damaged line"):
        records = read_jsonl(path)
    assert records == [{"n": 1}, {"n": 3}]


def test_a_short_write_leaves_the_log_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    append_jsonl(path, {"step": 1})
    before = path.read_bytes()
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:10]))  # disk full
    with pytest.raises(DiskFullError, match="no space left on the device holding"):
        append_jsonl(path, {"step": 2, "loss": 0.5})
    monkeypatch.setattr(os, "write", real_write)
    assert path.read_bytes() == before
    assert [json.loads(line) for line in before.decode().splitlines()] == [{"step": 1}]
