"""The committed three-recipe digits board was measured under the protocols this checkout
computes: its table's fingerprint is every digits recipe's, and its NLL column's model
protocol is the one ``eval.metrics`` with nll gives, from nothing but this checkout."""

import json

import pytest

from scorebench.evaluate import plan_config
from scorebench.published import published
from scorebench.recipes import resolve_config

BOARD = "ncsn-ncsnv2-scoresde-digits"


def board():
    return json.loads((published("leaderboards") / f"{BOARD}.json").read_text())


def plan(recipe, *sets):
    config = resolve_config(recipe, "digits", overrides=list(sets))
    return plan_config(config, config.sample.n, (1, 8, 8))


@pytest.mark.parametrize("recipe", ["ncsn", "ncsnv2", "score-sde-ve"])
def test_one_table_holds_the_three_recipes_under_the_protocol_each_computes(recipe):
    groups = board()["groups"]
    table = next(g for g in groups if any(r["model"].startswith(recipe) for r in g["rows"]))
    assert table["fingerprint"] == plan(recipe).fingerprint
    names = {r["model"].split(" @")[0] for r in table["rows"] if r["origin"] == "run"}
    assert names == {"ncsn-digits", "ncsnv2-digits", "score-sde-ve-digits"}


def test_the_nll_column_has_the_model_protocol_of_nll_and_skips_ncsn():
    table = board()["groups"][0]
    with_nll = plan("score-sde-ve", "eval.metrics=[isc,fid,kid,nll]")
    assert table["model_protocol"]["fingerprint"] == with_nll.model_fingerprint
    assert plan("ncsnv2", "eval.metrics=[isc,fid,kid,nll]").model_fingerprint == (
        with_nll.model_fingerprint
    )
    for row in (r for r in table["rows"] if r["origin"] == "run"):
        assert ("bpd" in row["metrics"]) == (not row["model"].startswith("ncsn-digits"))
