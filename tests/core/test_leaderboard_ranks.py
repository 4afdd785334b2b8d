"""Ranks that the seeds resolve: rows a paired t-test cannot separate share a rank, and each
NFE budget names its winner with the paired margin."""

from scorebench.report import leaderboard


def _record(sampler: str, nfe: int, seed: int, swd: float) -> dict:
    spec = {
        "source": {"kind": "run"},
        "sampler": {"name": sampler, "params": {"steps": nfe}},
        "seed": seed,
    }
    return {
        "fingerprint": "f" * 16,
        "protocol": {"dataset": "toy-gmm", "metrics": ["swd"]},
        "n_samples": 100,
        "dataset": "toy-gmm",
        "metrics": {"swd": swd},
        "cell": {"spec": spec, "sampling": {"nfe_per_sample": nfe}, "key": f"{sampler}{seed}"},
        "run": {"path": "runs/r", "name": "r"},
    }


def _board(values: dict[tuple[str, int], list[float]]) -> dict:
    records = [
        _record(sampler, nfe, seed, v)
        for (sampler, nfe), per_seed in values.items()
        for seed, v in enumerate(per_seed)
    ]
    (group,) = leaderboard.build(records, [])["groups"]
    return group


def test_rows_the_paired_seeds_cannot_separate_share_a_rank():
    group = _board(
        {
            ("a", 10): [1.00, 2.00, 3.00],
            ("b", 10): [1.01, 2.03, 2.99],  # within seed noise of a: a tie
            ("c", 19): [1.50, 2.50, 3.52],  # worse than a by 0.5 on every seed
        }
    )
    ranks = {r["sampler"]: r["rank"] for r in group["rows"]}
    assert ranks == {"a": "1=", "b": "1=", "c": "3"}
    heads, rows = leaderboard.table(group)
    assert [cells[0] for cells, _ in rows] == ["1=", "1=", "3"]


def test_each_budget_names_its_winner_margin_and_significance():
    group = _board(
        {
            ("a", 10): [1.0, 2.0, 3.0],
            ("c", 9): [1.5, 2.5, 3.51],  # a Heun budget: 2 x 5 - 1 = 9 counts as 10
            ("a", 50): [0.5, 0.7, 0.9],
            ("b", 50): [0.52, 0.69, 0.93],
        }
    )
    by_nfe = {b["nfe"]: b for b in group["budgets"]}
    assert set(by_nfe) == {10, 50}
    assert by_nfe[10]["winner"] == "a (steps=10)" and by_nfe[10]["significant"]
    assert abs(by_nfe[10]["margin"] - 0.5033) < 1e-3
    assert not by_nfe[50]["significant"]
    text = leaderboard.markdown({"groups": [group]})
    assert "NFE 10: a (steps=10) (SWD 2) ahead of c by 0.5033" in text
    assert "a tie at 5%" in text


def test_budgets_are_the_nearest_of_1_2_5():
    assert [leaderboard.budget(n) for n in (9, 19, 49, 51, 99, 101, 199, 999)] == [
        10, 20, 50, 50, 100, 100, 200, 1000,
    ]  # fmt: skip
