"""Registers NCSNv2 through the same hooks a third-party plugin uses. The loss, schedule and
sampler are the ncsn plugin's; factories are "module:attr" strings (no torch import here)."""

from scorebench.api import Component, hookimpl

PKG = "scorebench_ncsnv2"


@hookimpl
def register_networks():
    return [
        Component(
            "ncsnv2",
            f"{PKG}.network:NCSNv2",
            "unconditional RefineNet, output divided by sigma (official NCSNv2)",
        ),
        Component(
            "ncsnv2-toy-mlp",
            f"{PKG}.toy_network:ToyScoreNetV2",
            "unconditional MLP for 2-D points, output divided by sigma (toy preset)",
        ),
    ]


@hookimpl
def register_recipes():
    return [Component("ncsnv2", f"{PKG}.recipe:recipe", "Song & Ermon 2020, improved techniques")]


@hookimpl
def register_commands(app):
    import typer

    group = typer.Typer(help="NCSNv2's techniques.", no_args_is_help=True)
    app.add_typer(group, name="ncsnv2", rich_help_panel="Experiments")

    @group.command("config")
    def config(
        dataset: str = typer.Option(
            ..., "--dataset", "-d", help="digits, cifar10, or any dataset."
        ),
        steps_per_level: int = typer.Option(5, "--steps-per-level", "-T", min=1, help="T."),
        sigma_min: float = typer.Option(0.01, "--sigma-min", min=1e-6, help="The last level."),
        overlap: float = typer.Option(
            0.5669,
            "--overlap",
            min=0.01,
            max=0.99,
            help="T2's target (0.5669 reproduces the official configs).",
        ),
        data_dir: str | None = typer.Option(
            None, "--data-dir", help="Where datasets live.", show_default="the preset's data.root"
        ),
        as_json: bool = typer.Option(
            False, "--json", help="Print JSON instead of a table.", show_default="off"
        ),
    ) -> None:
        """Techniques 1, 2 and 4 computed from a dataset's training split: sigma_1, the
        number of levels L and the Langevin step epsilon (beside the paper's for CIFAR-10)."""
        import json

        from rich.console import Console
        from rich.table import Table

        from scorebench.api import load
        from scorebench_ncsnv2.techniques import from_data, from_sigmas

        train = load("datasets", dataset)(data_dir, "train")
        found = from_data(train.batch(range(len(train))), sigma_min, steps_per_level, overlap)
        rows = {"computed": found.as_dict()}
        if dataset == "cifar10":  # the paper's choice, and T4 for its L
            paper = from_sigmas(found.dim, 50.0, sigma_min, steps_per_level, levels=232)
            rows["paper (sigma_1 = 50, L = 232)"] = paper.as_dict()
        if as_json:
            Console().print_json(json.dumps(rows))
            return
        table = Table(title=f"NCSNv2 techniques on {dataset} (train split)")
        table.add_column("quantity")
        for name in rows:
            table.add_column(name, overflow="fold")
        for key in rows["computed"]:
            cells = [values[key] for values in rows.values()]
            table.add_row(key, *(f"{v:.6g}" if isinstance(v, float) else str(v) for v in cells))
        Console().print(table)
