"""A diffusers ``UNet2DModel`` checkpoint as a scorebench score source ``score(x, sigma)``.

Two families of public checkpoints, told apart by the pipeline's scheduler:

- **VP, discrete timesteps** (DDPM/DDIM pipelines, ``DDPMScheduler`` and friends): the UNet
  predicts epsilon, v or the clean sample at integer timestep t of a variance-preserving
  chain with cumulative products alphabar_t. As in Karras et al. 2022 (Section 2, Table 1)
  the chain is the variance-exploding process ``x_VE = x_VP / sqrt(alphabar)`` with
  ``sigma = sqrt((1 - alphabar) / alphabar)``; a sigma between two timesteps is asked at the
  timestep interpolated linearly in log sigma (diffusers' own ``_sigma_to_t``).
- **VE score models** (the score-SDE ports, ``ScoreSdeVeScheduler``, a UNet with Fourier
  time embedding): the UNet is conditioned on sigma itself and returns the score.

Pixel range: scorebench's samples are in [0, 1]. A VP model's data are in [-1, 1], so
``x_model = 2 x - 1``, ``sigma_model = 2 sigma`` and ``s(x, sigma) = 2 s_model(x_model,
sigma_model)``; the levels scorebench sees are the model's divided by 2. The score-SDE VE
models were trained on [0, 1] (their ``data.centered = False``): no conversion.

Only safetensors weights are loaded; a hub id is read from the local cache only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from scorebench.api import ConfigError
from scorebench_bridges.plugin import INSTALL

PREDICTIONS = ("epsilon", "v_prediction", "sample")
VE_SCHEDULERS = ("ScoreSdeVeScheduler",)
DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}
VP_SIGMA_MAP = (
    "VP to VE: sigma = sqrt((1 - alphabar_t) / alphabar_t), x_VE = x_VP / sqrt(alphabar_t); "
    "off-grid sigma -> timestep interpolated linearly in log sigma"
)


def missing_extra() -> str | None:
    """The install command the bridge needs, or None when diffusers is importable."""
    return None if importlib.util.find_spec("diffusers") else INSTALL


def _diffusers():
    if missing_extra():
        raise ConfigError(f"a diffusers source needs the diffusers extra: {INSTALL}")
    import diffusers

    return diffusers


def _hub_cache() -> str:
    from huggingface_hub.constants import HF_HUB_CACHE

    return str(HF_HUB_CACHE)


def resolve(model: str, revision: str | None) -> Path:
    """A local directory, or a hub id's snapshot in the local cache (never downloaded)."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if path.exists() or model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise ConfigError(
            f"diffusers source {model!r}: no such directory, and not a hub id (OWNER/NAME)."
        )
    _diffusers()
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(model, revision=revision, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        rev = f" --revision {revision}" if revision else ""
        raise ConfigError(
            f"diffusers source {model!r}{f' at revision {revision}' if revision else ''} is not "
            f"in the local Hugging Face cache ({_hub_cache()}); scorebench never downloads "
            f"during a bench. On a machine with network access run: hf download {model}{rev} "
            "(and copy the cache here, or set HF_HOME)."
        ) from None


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc}).") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the {what} is not a JSON object.")
    return data


def _weights(folder: Path) -> list[Path]:
    """The UNet's safetensors files; a folder with only pickle weights is refused."""
    safe = sorted(folder.glob("*.safetensors"))
    if safe:
        return safe
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth"))
    if pickles:
        raise ConfigError(
            f"{folder} holds only pickle weights ({', '.join(pickles)}): loading a pickle can "
            "run code, so scorebench loads safetensors only. Convert it where you trust the "
            "file: UNet2DModel.from_pretrained(DIR).save_pretrained(DIR, safe_serialization=True)."
        )
    raise ConfigError(f"{folder} holds no weights file (*.safetensors).")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class DiffusersScore:
    """``score(x, sigma)`` of a diffusers UNet in scorebench's [0, 1] pixel space.

    ``model`` is a pipeline directory or hub id with ``unet/`` (``subfolder``) and
    ``scheduler/`` folders. ``dtype`` is the UNet's arithmetic: ``float64`` for parity
    checks, ``float32`` by default.
    """

    def __init__(
        self,
        model: str,
        subfolder: str = "unet",
        revision: str | None = None,
        dtype: str = "float32",
    ) -> None:
        if dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}.")
        diffusers = _diffusers()
        root = resolve(model, revision)
        unet_dir = root / subfolder
        if not (unet_dir / "config.json").is_file():
            raise ConfigError(
                f"{root} is not a diffusers model: {unet_dir / 'config.json'} is missing "
                "(give a pipeline directory with unet/ and scheduler/, or --source-set "
                "subfolder=...)."
            )
        unet_config = _read_json(unet_dir / "config.json", "UNet config")
        if unet_config.get("_class_name") != "UNet2DModel":
            raise ConfigError(
                f"{unet_dir}: a {unet_config.get('_class_name')!r}, but the bridge takes "
                "unconditional UNet2DModel checkpoints only."
            )
        scheduler_file = root / "scheduler" / "scheduler_config.json"
        if not scheduler_file.is_file():
            raise ConfigError(
                f"{root} has no scheduler/scheduler_config.json: the noise process of the "
                "model is unknown without it."
            )
        self.scheduler_config = _read_json(scheduler_file, "scheduler config")
        files = _weights(unet_dir)
        self.dtype = DTYPES[dtype]
        self.unet = diffusers.UNet2DModel.from_pretrained(
            unet_dir,
            use_safetensors=True,
            local_files_only=True,
            torch_dtype=self.dtype,
            low_cpu_mem_usage=False,  # without accelerate's banner; the UNet is built whole
        ).eval()
        size = self.unet.config.sample_size
        size = (size, size) if isinstance(size, int) else tuple(size)
        self.shape = (int(self.unet.config.in_channels), *map(int, size))
        self._setup_process(diffusers)
        self.identity = {
            "library": f"diffusers {diffusers.__version__}",
            "model": model,
            "subfolder": subfolder,
            "revision": revision,
            "weights_sha256": {p.name: _sha256(p) for p in files},
            "scheduler": self.scheduler_config.get("_class_name"),
            "prediction_type": self.prediction,
            "sigma_map": self.sigma_map,
            "pixel_map": self.pixel_map,
            "dtype": dtype,
        }
        self.sigma_query = self.sigma_map

    def _setup_process(self, diffusers) -> None:
        name = self.scheduler_config.get("_class_name")
        if name in VE_SCHEDULERS:
            if self.unet.config.time_embedding_type != "fourier":
                raise ConfigError(
                    f"a VE score model needs Fourier time embedding (sigma conditioning); "
                    f"this UNet has {self.unet.config.time_embedding_type!r}."
                )
            c = self.scheduler_config
            top, bottom = float(c.get("sigma_max", 1348.0)), float(c.get("sigma_min", 0.01))
            count = int(c.get("num_train_timesteps", 2000))
            self.prediction, self.scale = "score", 1.0
            self.levels = torch.logspace(
                math.log10(top), math.log10(bottom), count, dtype=torch.float64
            )
            self.sigma_map = "VE: the UNet is conditioned on sigma itself"
            self.pixel_map = "model data in [0, 1]: none"
            return
        try:
            scheduler_class = getattr(diffusers, name)
            scheduler = scheduler_class.from_config(self.scheduler_config)
        except (AttributeError, TypeError, ValueError) as exc:
            raise ConfigError(f"unsupported scheduler config {name!r} ({exc}).") from None
        alphas = getattr(scheduler, "alphas_cumprod", None)
        prediction = self.scheduler_config.get("prediction_type", "epsilon")
        if alphas is None or prediction not in PREDICTIONS:
            raise ConfigError(
                f"unsupported scheduler config: {name!r} with prediction_type {prediction!r}; "
                f"the bridge takes VP schedulers with alphas_cumprod and one of "
                f"{', '.join(PREDICTIONS)}, or ScoreSdeVeScheduler."
            )
        self.prediction, self.scale = prediction, 2.0
        alphas = alphas.to(torch.float64)
        self.vp_sigmas = ((1 - alphas) / alphas).sqrt()  # increasing in t, model's pixels
        self.levels = self.vp_sigmas.flip(0) / self.scale
        self.sigma_map = VP_SIGMA_MAP
        self.pixel_map = "model data in [-1, 1]: x = 2 x_scorebench - 1, sigma = 2 sigma_sb"

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        """The fractional timestep of a model-space sigma, linear in log sigma (clamped)."""
        log_grid = self.vp_sigmas.to(sigma.device).log()
        log_sigma = sigma.to(torch.float64).log().clamp(log_grid[0], log_grid[-1])
        high = torch.searchsorted(log_grid, log_sigma).clamp(1, len(log_grid) - 1)
        low = high - 1
        w = (log_sigma - log_grid[low]) / (log_grid[high] - log_grid[low])
        return low + w

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, device=x.device).expand(x.shape[0])
        shape = (-1, *([1] * (x.dim() - 1)))
        if self.prediction == "score":
            out = self.unet(x.to(self.dtype), sigma.to(self.dtype)).sample
            return out.to(x.dtype)
        s = self.scale * sigma.to(torch.float64)  # the model's sigma
        x_m = self.scale * x.to(torch.float64) - 1  # the model's VE state
        root = (1 / (1 + s**2)).sqrt().reshape(shape)  # sqrt(alphabar)
        x_vp = x_m * root
        out = self.unet(x_vp.to(self.dtype), self.timestep(s).to(self.dtype)).sample
        out = out.to(torch.float64)
        s = s.reshape(shape)
        if self.prediction == "epsilon":
            eps = out
        elif self.prediction == "v_prediction":  # v = sqrt(ab) eps - sqrt(1 - ab) x0
            eps = root * out + (1 - root**2).sqrt() * x_vp
        else:  # the clean sample x0
            eps = (x_m - out) / s
        return (-self.scale * eps / s).to(x.dtype)  # the score, times 2 for [0, 1] pixels


@lru_cache(maxsize=4)
def diffusers_model(
    model: str, subfolder: str = "unet", revision: str | None = None, dtype: str = "float32"
) -> DiffusersScore:
    """The registered score function: one loaded model per source, kept for the process."""
    return DiffusersScore(model, subfolder, revision, dtype)


class DiffusersLevels:
    """The model's own noise levels in scorebench's pixel space (a registered schedule)."""

    def __init__(
        self, model: str, subfolder: str = "unet", revision: str | None = None, dtype="float32"
    ) -> None:
        self.levels = diffusers_model(
            model=model, subfolder=subfolder, revision=revision, dtype=dtype
        ).levels

    def __len__(self) -> int:
        return len(self.levels)

    def sigmas(self, device=None, dtype=torch.float32) -> torch.Tensor:
        return self.levels.to(device=device, dtype=dtype)
