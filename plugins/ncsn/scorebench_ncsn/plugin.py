"""Registers the NCSN components through the same hooks a third-party plugin uses.

Factories are "module:attr" strings: nothing here imports torch.
"""

from scorebench.api import Component, hookimpl

PKG = "scorebench_ncsn"


@hookimpl
def register_networks():
    return [
        Component(
            "ncsn",
            f"{PKG}.network:NCSN",
            "RefineNet score network with conditional instance norm++ (CondRefineNetDilated)",
        ),
        Component(
            "ncsn-toy-mlp",
            f"{PKG}.toy_network:ToyScoreNet",
            "noise-conditional MLP for 2-D points (toy presets)",
        ),
    ]


@hookimpl
def register_schedules():
    return [
        Component(
            "geometric",
            f"{PKG}.schedules:GeometricSchedule",
            "geometric noise levels sigma_max -> sigma_min (default 1 -> 0.01, 10 levels)",
        )
    ]


@hookimpl
def register_losses():
    return [
        Component("dsm", f"{PKG}.losses:dsm", "annealed denoising score matching (sigma^2 weight)"),
        Component("ssm", f"{PKG}.losses:ssm", "annealed sliced score matching, variance reduced"),
    ]


@hookimpl
def register_samplers():
    return [
        Component("langevin", f"{PKG}.samplers:langevin", "plain Langevin dynamics at one sigma"),
        Component(
            "annealed_langevin",
            f"{PKG}.samplers:annealed_langevin",
            "annealed Langevin dynamics, T steps per level (NCSN Algorithm 1)",
        ),
    ]


@hookimpl
def register_score_functions():
    return [
        Component(
            "gmm",
            f"{PKG}.gmm:GaussianMixtureScore",
            "exact score of a Gaussian mixture perturbed by N(0, sigma^2 I)",
        ),
        Component("toy-gmm", f"{PKG}.gmm:toy_gmm", "the NCSN paper's 2-D mixture, exact score"),
    ]


@hookimpl
def register_recipes():
    return [Component("ncsn", f"{PKG}.recipe:recipe", "Song & Ermon 2019, the paper's protocol")]


@hookimpl
def register_commands(app):
    import typer

    @app.command("toy", rich_help_panel="Experiments")
    def toy(
        n: int = typer.Option(1280, help="Number of samples per method (the paper uses 1280)."),
        seed: int = typer.Option(0, min=0, max=2**32 - 1, help="Random seed."),
        as_json: bool = typer.Option(
            False, "--json", help="Print JSON instead of a table.", show_default="off"
        ),
    ) -> None:
        """The paper's toy experiment (section 3.2): plain vs annealed Langevin with exact
        scores on 0.2 N((-5,-5), I) + 0.8 N((5,5), I); prints each mode's recovered weight."""
        import json

        from rich.console import Console

        from scorebench_ncsn.toy import run_toy_experiment, toy_table

        result = run_toy_experiment(n=n, seed=seed)
        console = Console()
        if as_json:
            console.print_json(json.dumps(result))
        else:
            console.print(toy_table(result))
