"""Where a bench's cells are computed: in this process (``inline``), in N worker processes
on this machine (``local``, submitit's LocalExecutor) or as one Slurm array job over the
missing cells (``slurm``, submitit's SlurmExecutor).

Executor settings are not part of any cell: a cell is the same computation wherever it
runs. Workers share nothing but the file system. Each cell is computed under its own lock
(a cell another worker holds is skipped, a cell already done is skipped), its files are
written atomically, and a protocol's reference statistics are computed once, under a lock
on their cache entry (:func:`scorebench.metrics.engine.ensure_reference`). Every worker
records its state in the cell's ``executor.json``, which ``scorebench bench --status OUT``
reads.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from scorebench import distributed
from scorebench.done import read_derived
from scorebench.errors import ConfigError
from scorebench.files import atomic_write_json, remove_stale_temps
from scorebench.stores import cached_result, evaluate_cell, plan, plan_key
from scorebench.workflow import sample_cells

STATUS_FILE = "executor.json"
JOBS = "jobs"  # under --out: submitit's pickles and logs


class ExecutorSpec(BaseModel):
    """``executor:`` of a bench spec (``--executor``, ``--workers`` on the command line)."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["inline", "local", "slurm"] = "inline"
    workers: StrictInt = Field(default=2, ge=1)  # local: worker processes
    partition: str | None = None  # slurm
    gpus_per_cell: StrictInt = Field(default=0, ge=0)
    cpus_per_cell: StrictInt = Field(default=1, ge=1)
    timeout_min: StrictInt = Field(default=60, ge=1)
    array_parallelism: StrictInt = Field(default=64, ge=1)
    max_requeues: StrictInt = Field(default=3, ge=0)  # preempted or timed out
    slurm_additional: dict[str, str | int] = {}


def check_executor(spec: ExecutorSpec, device: str) -> None:
    """Refuse what cannot run before anything is submitted."""
    if spec.gpus_per_cell > 0 and device == "cpu":
        raise ConfigError(
            f"executor: gpus_per_cell={spec.gpus_per_cell} with --device cpu: the cells would "
            "hold GPUs they never use; set gpus_per_cell: 0 or --device cuda."
        )
    if spec.name == "slurm":
        check_slurm(spec.partition, "executor: {partition: NAME}")


def check_slurm(partition: str | None, how: str) -> None:
    """Slurm's tools are here and ``partition`` is one of the cluster's (``how`` says how
    to name one)."""
    missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]
    if missing:
        raise ConfigError(
            f"--executor slurm needs Slurm's sbatch and srun on PATH, and this machine lacks "
            f"{' and '.join(missing)}; run on a login node of the cluster, or use --executor "
            "local here."
        )
    if not partition:
        raise ConfigError(f"--executor slurm needs a partition ({how}).")
    known = _partitions()
    if known and partition not in known:
        raise ConfigError(
            f"unknown Slurm partition {partition!r}; this cluster has {', '.join(sorted(known))}."
        )


def _partitions() -> set[str]:
    """The cluster's partitions (sinfo), or an empty set where sinfo cannot tell."""
    if shutil.which("sinfo") is None:
        return set()
    try:
        listed = subprocess.run(
            ["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {p.strip().rstrip("*") for p in listed.split() if p.strip()}


def check_writable(out: Path) -> None:
    """The shared output directory takes files (workers write their results there)."""
    probe = out / f".write-test-{os.getpid()}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"--out {out} is not writable ({exc.strerror or exc}): workers write their results "
            "there; give a directory on a shared, writable file system."
        ) from None


@contextlib.contextmanager
def cell_lock(path: Path) -> Iterator[bool]:
    """The cell's lock (flock, released by the kernel when a worker dies): True while held
    here, False when another worker holds it."""
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        remove_stale_temps(path)  # left by a killed worker: no live writer owns one
        yield True
    finally:
        os.close(fd)


def is_locked(path: Path) -> bool:
    """Whether a worker holds the cell's lock now."""
    lock = path / ".lock"
    if not lock.is_file():
        return False
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _job() -> dict[str, Any]:
    """This worker's job id and log file, where submitit runs it."""
    try:
        import submitit

        env = submitit.JobEnvironment()
        return {"job_id": env.job_id, "log": str(env.paths.stdout).replace("%t", "0")}
    except RuntimeError:  # not under submitit
        return {"job_id": None, "log": None}


def _status(path: Path, state: str, **fields: Any) -> None:
    atomic_write_json(path / STATUS_FILE, {"state": state, **fields})


def work(cells_of: Callable[[], list], keys: list[str], device: str, weights, threads: int) -> int:
    """A worker: compute the cells of ``keys`` among the bench's (``cells_of()``) that
    nobody else holds or has done. Returns how many it computed."""
    import torch

    torch.set_num_threads(threads)
    cells = {c.key: c for c in cells_of()}
    job = {**_job(), "host": socket.gethostname(), "pid": os.getpid()}
    computed = 0
    with distributed.session(device) as (dist, dev):
        for key in keys:
            cell = cells[key]
            with cell_lock(cell.path) as held:
                if not held:
                    continue
                evaluation = plan(cell, device=str(dev), inception_weights=weights)
                if cached_result(cell, evaluation.key) is not None:
                    continue
                started = time.time()
                _status(cell.path, "running", started=started, **job)
                try:
                    sample_cells([cell], dist, dev)
                    evaluate_cell(cell, evaluation)
                except BaseException as exc:  # recorded, then the job fails as it would
                    tail = traceback.format_exception(exc)[-6:]
                    _status(cell.path, "failed", started=started, ended=time.time(),
                            error="".join(tail).strip(), **job)  # fmt: skip
                    raise
                _status(cell.path, "done", started=started, ended=time.time(), **job)
                computed += 1
    return computed


class Worker:
    """:func:`work` as a submitit job that is requeued when Slurm preempts it or its time
    runs out (it resumes from the cells' finished shards)."""

    def __call__(self, *args: Any) -> int:
        return work(*args)

    def checkpoint(self, *args: Any):
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args)


def submit_local(
    spec: ExecutorSpec, cells_of: Callable, out: Path, keys: list[str], device: str, weights
) -> list[str]:
    """``workers`` processes on this machine, the cells dealt round-robin and the CPU
    threads split between them; waits for all of them and returns the failures."""
    import submitit

    executor = submitit.LocalExecutor(folder=out / JOBS / "%j")
    executor.update_parameters(timeout_min=spec.timeout_min)
    workers = min(spec.workers, len(keys))
    threads = max(1, (os.cpu_count() or 1) // workers)
    shares = [keys[i::workers] for i in range(workers)]
    with executor.batch():
        jobs = [
            executor.submit(Worker(), cells_of, share, device, weights, threads) for share in shares
        ]
    failures = []
    for job in jobs:
        try:
            job.result()
        except (submitit.core.utils.FailedJobError, submitit.core.utils.UncompletedJobError):
            failures.append(f"worker {job.job_id} (log {job.paths.stdout})")
    return failures


def submit_slurm(
    spec: ExecutorSpec, cells_of: Callable, out: Path, dirs: dict[str, Path], device: str, weights
):
    """One array job, one task per missing cell (``dirs``: key -> cell directory); returns
    the submitted jobs."""
    keys = list(dirs)
    import submitit

    executor = submitit.SlurmExecutor(folder=out / JOBS / "%j", max_num_timeout=spec.max_requeues)
    executor.update_parameters(
        partition=spec.partition,
        gpus_per_node=spec.gpus_per_cell,
        cpus_per_task=spec.cpus_per_cell,
        time=spec.timeout_min,
        array_parallelism=spec.array_parallelism,
        job_name="scorebench-bench",
        additional_parameters=dict(spec.slurm_additional),
    )
    args = [(cells_of, [k], device, weights, spec.cpus_per_cell) for k in keys]
    jobs = executor.map_array(Worker(), *zip(*args, strict=True))
    for job, key in zip(jobs, keys, strict=True):
        _status(dirs[key], "pending", job_id=job.job_id, log=str(job.paths.stdout))
    return jobs


def read_status(path: Path) -> dict[str, Any]:
    """What the last worker of the cell at ``path`` recorded (empty: none ran it)."""
    found = read_derived(path / STATUS_FILE)
    return found if isinstance(found, dict) else {}


def cell_states(cells: list, weights=None) -> list[dict[str, Any]]:
    """Each cell's state: done (its result is stored), running (a worker holds its lock),
    failed (its last worker recorded an error, or died), or pending; with what the worker
    recorded (job id, host, times, log, error)."""
    plans: dict[str, Any] = {}
    rows = []
    for cell in cells:
        if plan_key(cell) not in plans:
            plans[plan_key(cell)] = plan(cell, device="cpu", inception_weights=weights)
        recorded = read_status(cell.path)
        if cached_result(cell, plans[plan_key(cell)].key) is not None:
            state = "done"
        elif is_locked(cell.path):
            state = "running"
        elif recorded.get("state") == "failed":
            state = "failed"
        elif recorded.get("state") == "running":  # no lock held: its worker is gone
            state, recorded = "failed", {**recorded, "error": "the worker stopped mid-cell"}
        else:
            state = "pending"
        started, ended = recorded.get("started"), recorded.get("ended")
        elapsed = None if started is None else (ended or time.time()) - started
        rows.append({"cell": cell, "state": state, "elapsed_s": elapsed, **recorded})
    return rows
