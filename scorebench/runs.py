"""Run directories: layout, manifest, atomic writes, checkpoints.

A run directory holds::

    config.json        the resolved, validated config
    manifest.json      versions, device, git commit, seed, command line
    metrics.jsonl      training log, one JSON object per logged step
    checkpoints/       step-XXXXXXXX.pt (atomic; the last K kept)
    grids/             sample grids (PNG) during and after training
    selection.json     checkpoint selection (eval.select_every > 0): metric per step, best
    evals/<key>/       one directory per sampling spec (key: hash of the spec):
        spec.json          the spec (source, sampler and parameters, n, seed, init...)
        samples/           shard-NNNNN.npy (+ .json: n, NFE, seconds) and samples.json,
                           the sampling record written once every shard is drawn
        samples.png        a grid (images) or scatter (points) of the first samples
        results/<fp>.json  one evaluation record per metric protocol fingerprint
    report/            leaderboard.md, leaderboard.json, report.html (scorebench run)
    jobs/<id>/         submitit's files of a ``train --executor local|slurm`` job: its
                       pickles and its logs
    events.out.tfevents.*  TensorBoard events (train.tensorboard=true); evaluations add
                       an hparams session each in evals/tensorboard/<sampler and params>/
    wandb/, wandb-id   W&B's local files and the training's W&B run id (train.wandb=true)
    .lock              held (flock) by the process writing to the run; names its PID

The parent directory's ``history.jsonl`` keeps every evaluation record ever made there.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scorebench import __version__
from scorebench.config import flatten, from_dict
from scorebench.errors import ConfigError, ScorebenchError
from scorebench.files import atomic_write_json, read_json, remove_stale_temps
from scorebench.plugins import get_plugin_manager

CHECKPOINT_RE = re.compile(r"^step-(\d{8})\.pt$")
HISTORY_FILE = "history.jsonl"  # beside the runs: every evaluation record made there


class RunDir:
    """Paths of one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    config = property(lambda self: self.path / "config.json")
    manifest = property(lambda self: self.path / "manifest.json")
    metrics = property(lambda self: self.path / "metrics.jsonl")
    checkpoints = property(lambda self: self.path / "checkpoints")
    grids = property(lambda self: self.path / "grids")
    evals = property(lambda self: self.path / "evals")
    selection = property(lambda self: self.path / "selection.json")
    report = property(lambda self: self.path / "report")
    jobs = property(lambda self: self.path / "jobs")
    history = property(lambda self: self.path.parent / HISTORY_FILE)

    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints / f"step-{step:08d}.pt"

    def grid_path(self, step: int) -> Path:
        return self.grids / f"step-{step:08d}.png"

    def checkpoint_steps(self) -> list[int]:
        if not self.checkpoints.is_dir():
            return []
        steps = [CHECKPOINT_RE.match(p.name) for p in self.checkpoints.iterdir()]
        return sorted(int(m.group(1)) for m in steps if m)

    def intact_checkpoint_steps(self) -> list[int]:
        """Steps whose checkpoint file is whole (torch.save writes a zip archive: a
        truncated one lacks its directory). What "trained to step N" is decided from."""
        import zipfile

        return [s for s in self.checkpoint_steps() if zipfile.is_zipfile(self.checkpoint_path(s))]

    def load_config(self):

        if not self.config.is_file():
            raise ScorebenchError(
                f"{self.path} is not a scorebench run directory (no config.json). "
                "Train first: `scorebench train RECIPE --dataset NAME --run-dir DIR`."
            )
        try:
            return from_dict(self.saved_config())
        except ConfigError as exc:
            raise ConfigError(f"{self.config} does not hold a valid config: {exc}") from exc

    def saved_config(self) -> dict[str, Any]:
        data = read_json(
            self.config,
            "the run's config",
            "Restore it from a backup (a copy of the same run's config), or start over with "
            "--force (the old run is moved aside) or a new --run-dir.",
        )
        if not isinstance(data, dict):
            raise ConfigError(f"{self.config} does not hold a mapping of config keys")
        return data

    def prepare(self, config, *, argv: list[str] | None = None) -> None:
        """Create the directory, or check that an existing one was trained the same way."""
        self.check_continues(config)
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.config, config.to_dict())
        atomic_write_json(self.manifest, manifest(config, argv))

    def check_continues(self, config) -> None:
        """An existing run may continue under ``config``: keys that do not change the trained
        weights (more steps, sampling, evaluation, logging, device) may differ."""
        if not self.config.is_file():
            return
        old, now = flatten(self.saved_config()), flatten(config.to_dict())
        changed = sorted(
            k
            for k in old.keys() | now.keys()
            if old.get(k) != now.get(k) and not k.startswith(CHANGEABLE)
        )
        if changed:
            raise ConfigError(
                f"run directory {self.path} was trained with another config (differs in: "
                f"{', '.join(changed)}). Use a new --run-dir, or --force to start over."
            )


#: Config keys a run may change between invocations without invalidating its checkpoints.
CHANGEABLE = (
    "train.steps",
    "train.log_every",
    "train.grid_every",
    "train.grid_size",
    "train.tensorboard",
    "train.wandb",
    "train.keep_checkpoints",
    "sample.",
    "eval.",
    "runtime.device",
    "data.root",
    "data.num_workers",
)


#: The directories of a run that scorebench makes, where stale temp files may be removed.
RUN_SUBDIRS = ("checkpoints", "grids", "evals", "report")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


@contextmanager
def locked(run: RunDir, what: str, *, start_over: bool = False, log=_stderr):
    """Hold an advisory lock on the run directory while ``what`` writes to it: a second
    scorebench process on the same directory is refused with the holder's PID instead of
    doubling its logs. Under torchrun rank 0 holds it for the job. Released on exit, also
    when the process is killed (the kernel drops flock locks).

    ``start_over`` (``--force``) moves an existing run aside to ``NAME.old-TIMESTAMP``
    while holding its lock, so a run another process is writing is refused, never moved."""
    if int(os.environ.get("RANK", "0")) != 0:
        yield
        return
    fd = _acquire(run, what)
    try:
        if start_over and any(p.name != ".lock" for p in run.path.iterdir()):
            aside = move_aside(run)  # the lock moves with it: nobody can enter either
            new = _acquire(run, what)
            os.close(fd)
            fd = new
            log(f"moved the previous run to {aside}")
        for stale in remove_stale_temps(run.path, RUN_SUBDIRS):  # no live writer owns one
            _stderr(f"scorebench: removed {stale}, left by a killed writer")
        yield
    finally:
        os.close(fd)  # closing drops the lock


def _acquire(run: RunDir, what: str) -> int:
    """The run directory's lock, held (flock) and naming this process; refused with the
    holder's name when another process has it."""
    import fcntl

    fd = _open_lock(run)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise ScorebenchError(
            f"{run.path} is in use by {holder}. Wait for it to finish (or stop it), or "
            "use another directory."
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"scorebench {what} (pid {os.getpid()})".encode(), 0)
    return fd


def _open_lock(run: RunDir) -> int:
    """The run directory's lock file, the directory created if needed; a path that cannot
    be a run directory is a clear error."""
    try:
        if run.path.exists() and not run.path.is_dir():
            raise ScorebenchError(f"run directory {run.path} is a file; choose another --run-dir.")
        run.path.mkdir(parents=True, exist_ok=True)
        return os.open(run.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ScorebenchError(
            f"cannot use {run.path} as a run directory ({exc.strerror or exc}); choose a "
            "writable directory with --run-dir."
        ) from None


def move_aside(run: RunDir) -> Path:
    """Rename the run directory to ``NAME.old-TIMESTAMP`` (starting over loses nothing)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = run.path.with_name(f"{run.path.name}.old-{stamp}")
    k = 1
    while aside.exists():  # two restarts within a second
        aside, k = run.path.with_name(f"{run.path.name}.old-{stamp}-{k}"), k + 1
    run.path.rename(aside)
    return aside


def manifest(config, argv: list[str] | None = None) -> dict[str, Any]:
    """What produced a run: versions of everything, device, git commit, seed, command line."""
    try:
        import torch

        torch_info = {
            "version": torch.__version__,
            "cuda": torch.version.cuda,
            "cuda_available": torch.cuda.is_available(),
        }
        if torch.cuda.is_available():
            torch_info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover - torch is a dependency
        torch_info = {}
    return {
        "scorebench": __version__,
        "plugins": {p.name: p.version for p in get_plugin_manager().plugins},
        "torch": torch_info,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git_commit": _git_commit(),
        "seed": config.runtime.seed,
        "device": config.runtime.device,
        "command": argv if argv is not None else sys.argv,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def load_checkpoint(path: Path, map_location: Any = "cpu") -> dict[str, Any]:
    """A checkpoint, loaded safely (weights only). A damaged file is a clear error."""
    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise ScorebenchError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}). It may be "
            "truncated or not a scorebench checkpoint; delete it to fall back to an older one."
        ) from exc


def latest_valid_checkpoint(run: RunDir, map_location: Any = "cpu"):
    """(step, state) of the newest checkpoint that loads, skipping damaged ones; or None."""
    for step in reversed(run.checkpoint_steps()):
        try:
            return step, load_checkpoint(run.checkpoint_path(step), map_location)
        except ScorebenchError as exc:
            print(f"scorebench: skipping damaged checkpoint: {exc}", file=sys.stderr)
    return None
