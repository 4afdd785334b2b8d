"""Training as a submitit job: ``scorebench train --executor local|slurm``.

The job runs the trainer that torchrun starts, on the same code path: submitit's helper
exports the distributed environment (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE,
LOCAL_RANK) from the job's own, rank 0 holds the run's lock, and the trainer checkpoints
as it always does. A job that Slurm preempts, or whose time runs out, is requeued (up to
``max_requeues`` times) and continues from the run's newest checkpoint, exactly as a
rerun of ``scorebench train`` does. ``local`` runs the same job in processes on this
machine (submitit's LocalExecutor), which is how the path is tested without a cluster.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from scorebench.components import check_before_training
from scorebench.config import RunConfig
from scorebench.errors import ConfigError, ScorebenchError, problems
from scorebench.executors import check_slurm
from scorebench.runs import RunDir, locked
from scorebench.train import train


class TrainExecutorSpec(BaseModel):
    """Where ``scorebench train`` runs: here (``inline``), in processes on this machine
    (``local``) or as a Slurm job (``slurm``), with one DDP rank per task."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["inline", "local", "slurm"] = "inline"
    nodes: StrictInt = Field(default=1, ge=1)
    gpus_per_node: StrictInt = Field(default=0, ge=0)
    tasks_per_node: StrictInt | None = Field(default=None, ge=1)  # default: one per GPU
    cpus_per_task: StrictInt = Field(default=8, ge=1)  # slurm
    partition: str | None = None  # slurm
    timeout_min: StrictInt = Field(default=24 * 60, ge=1)
    max_requeues: StrictInt = Field(default=3, ge=0)  # preempted or timed out
    slurm_additional: dict[str, str | int] = {}

    @property
    def tasks(self) -> int:
        return self.tasks_per_node or max(1, self.gpus_per_node)

    @property
    def world_size(self) -> int:
        return self.nodes * self.tasks


def train_executor(**given: Any) -> TrainExecutorSpec:
    """The spec from the command line's options (None: not given)."""
    try:
        spec = TrainExecutorSpec.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(f"train executor: {problems(exc)}") from None
    if spec.name == "inline":
        flags = {"slurm_additional": "--slurm-set"}
        extra = sorted(
            flags.get(k, "--" + k.replace("_", "-"))
            for k, v in given.items()
            if v not in (None, {}) and k != "name"
        )
        if extra:
            raise ConfigError(
                f"{', '.join(extra)} apply to --executor local or slurm; without one, "
                "`scorebench train` runs here (under torchrun for several ranks)."
            )
    return spec


def check_train_executor(spec: TrainExecutorSpec, config: RunConfig) -> None:
    """Refuse what cannot run before anything is submitted."""
    device = config.runtime.device
    if spec.gpus_per_node and device == "cpu":
        raise ConfigError(
            f"--gpus-per-node {spec.gpus_per_node} with runtime.device=cpu: the ranks would "
            "hold GPUs they never use; drop --gpus-per-node or use --device cuda."
        )
    if device.startswith("cuda") and spec.tasks > max(spec.gpus_per_node, 1):
        raise ConfigError(
            f"{spec.tasks} tasks per node on {spec.gpus_per_node} GPU(s): DDP puts one rank on "
            "each GPU; make --tasks-per-node at most --gpus-per-node."
        )
    if config.data.batch_size % spec.world_size:
        raise ConfigError(
            f"data.batch_size={config.data.batch_size} is the global batch; it must divide "
            f"evenly across {spec.world_size} ranks ({spec.nodes} node(s) x {spec.tasks} tasks)."
        )
    if spec.name == "local":
        if spec.nodes != 1:
            raise ConfigError("--executor local runs on this machine: --nodes must be 1.")
        _check_local_gpus(spec.gpus_per_node)
    if spec.name == "slurm":
        check_slurm(spec.partition, "--partition NAME")


def _check_local_gpus(wanted: int) -> None:
    if not wanted:
        return
    import torch

    here = torch.cuda.device_count()
    if wanted > here:
        raise ConfigError(f"--gpus-per-node {wanted}, but this machine has {here} GPU(s).")


class JobFailed(ScorebenchError):
    """The job itself failed (not a mistake in what was asked)."""

    exit_code = 1


@dataclasses.dataclass(frozen=True)
class TrainJob:
    """What a task of the job runs: join the distributed job submitit describes, then
    train (rank 0 under the run's lock). Requeued, it starts again and resumes."""

    config: RunConfig
    run_path: str
    argv: list[str]
    threads: int

    def __call__(self) -> dict[str, Any]:
        import submitit
        import torch

        if submitit.JobEnvironment().num_tasks > 1:
            submitit.helpers.TorchDistributedEnvironment().export(
                set_cuda_visible_devices=False, overwrite=True
            )
        torch.set_num_threads(self.threads)
        run = RunDir(self.run_path)
        try:
            with locked(run, "train"):
                result = train(self.config, run, argv=self.argv)
        except ScorebenchError as exc:  # the user's mistake: a message, not a traceback
            return {"error": str(exc), "exit_code": exc.exit_code}
        return dataclasses.asdict(result)

    def checkpoint(self):
        """submitit calls this when the job is preempted or times out: run it again; the
        trainer resumes from its newest checkpoint."""
        import submitit

        return submitit.helpers.DelayedSubmission(self)


def launch(
    spec: TrainExecutorSpec, config: RunConfig, run: RunDir, argv: list[str], *, force: bool, log
) -> Any:
    """Submit the training job (the run moved aside first with ``force``); returns
    submitit's job."""
    import submitit
    import torch

    check_before_training(config)
    check_train_executor(spec, config)
    with locked(run, "train", start_over=force, log=log):
        run.check_continues(config)  # refused here, not in the job, as a run in use is
    folder = run.jobs / "%j"
    if spec.name == "local":
        executor = submitit.LocalExecutor(folder=folder, max_num_timeout=spec.max_requeues)
        executor.update_parameters(
            timeout_min=spec.timeout_min,
            tasks_per_node=spec.tasks,
            gpus_per_node=spec.gpus_per_node,
        )
        # The cores split between the ranks, never more threads than this process has.
        threads = max(1, min(torch.get_num_threads(), (os.cpu_count() or 1) // spec.tasks))
    else:
        executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=spec.max_requeues)
        executor.update_parameters(
            partition=spec.partition,
            nodes=spec.nodes,
            ntasks_per_node=spec.tasks,
            gpus_per_node=spec.gpus_per_node,
            cpus_per_task=spec.cpus_per_task,
            time=spec.timeout_min,
            job_name=f"scorebench-train-{run.path.name}",
            additional_parameters=dict(spec.slurm_additional),
        )
        threads = spec.cpus_per_task
    return executor.submit(TrainJob(config, str(run.path.resolve()), argv, threads))


def wait(job) -> dict[str, Any]:
    """A local job's result; its failure as a message with the log's last lines."""
    import submitit

    try:
        results = job.results()  # one per rank
    except (submitit.core.utils.FailedJobError, submitit.core.utils.UncompletedJobError) as exc:
        tail = "\n".join(str(exc).strip().splitlines()[-6:])
        raise JobFailed(
            f"training job {job.job_id} failed (log: {job.paths.stderr}):\n{tail}"
        ) from None
    for result in results:
        if "error" in result:
            error = ScorebenchError(f"training job {job.job_id}: {result['error']}")
            error.exit_code = result["exit_code"]
            raise error
    return results[0]
