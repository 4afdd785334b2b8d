"""Feature-extractor components and the Inception-v3 one.

A feature-extractor component's factory returns a :class:`scorebench.api.FeatureExtractor`:
its ``prepare(weights=..., cache_dir=..., data_root=...)`` finds (or trains) its weights and
returns a :class:`PreparedExtractor`: the name of a class in torch-fidelity's
feature-extractor registry, the weights file, the layer per metric and the protocol fields
that identify it. torch-fidelity's ``calculate_metrics`` then computes every metric.

No weights file reaches a dependency's unpickler: scorebench loads the Inception file itself
(``torch.load(weights_only=True)``, tensors only), checks its SHA-256 against the prefix the
standard file name carries (torch.hub's convention), and hands torch-fidelity a copy it
serialised from that checked state dict.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scorebench.errors import ConfigError, DataUnavailableError

#: torch-fidelity's converted TF Inception (2015-12-05), the file every FID paper uses.
INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
#: The start of that file's SHA-256, which its name carries.
INCEPTION_SHA256_PREFIX = "6726825d"
INCEPTION_WEIGHTS_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_WEIGHTS_FILE
)
INCEPTION_WEIGHTS_ENV = "SCOREBENCH_INCEPTION_WEIGHTS"
#: Set to 1 to forbid every download (tests, air-gapped clusters).
OFFLINE_ENV = "SCOREBENCH_OFFLINE"


@dataclass(frozen=True)
class InceptionWeights:
    """Which Inception weights to use: a file (None: the environment variable, the cache,
    else a download), and whether a file whose SHA-256 is not the standard one is trusted
    (``--trust-weights``; the fingerprint then says so)."""

    path: str | Path | None = None
    trusted: bool = False


#: What the ``inception_weights`` arguments take: a file, the choice with its trust, or None.
Weights = InceptionWeights | str | Path | None


@dataclass
class PreparedExtractor:
    """Everything the engine needs to run one extractor, and what identifies it."""

    name: str  # scorebench component name
    fidelity_name: str  # name in torch_fidelity.registry.FEATURE_EXTRACTORS_REGISTRY
    weights_path: Path
    layers: dict[str, str]  # metric ("isc", "fid", "kid", "prc") -> feature layer
    channels: int  # image channels the extractor takes (inputs are converted to this)
    protocol: dict[str, Any]  # JSON fields that identify the extractor (in every fingerprint)
    state_dict: dict[str, Any] | None = None  # the checked weights, when scorebench loaded them

    def weights_argument(self) -> Any:
        """What to pass as torch-fidelity's ``feature_extractor_weights_path``: a fresh
        in-memory copy of the checked state dict (torch-fidelity unpickles it with
        ``weights_only=False``, so it never sees the user's file), else the file."""
        if self.state_dict is None:
            return str(self.weights_path)
        import torch

        buffer = io.BytesIO()
        torch.save(self.state_dict, buffer)
        buffer.seek(0)
        return buffer

    def torchmetrics_fid(self, device: Any) -> Any:
        """A ``torchmetrics.image.fid.FrechetInceptionDistance`` measuring the same FID
        with torchmetrics' own feature pipeline (for the cross-check)."""
        raise NotImplementedError


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _download_inception(dest: Path) -> None:
    """torch-fidelity's download (the same URL), into scorebench's cache, atomically."""
    import torch.hub

    tmp = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(
        INCEPTION_WEIGHTS_URL, str(tmp), hash_prefix=INCEPTION_SHA256_PREFIX, progress=True
    )
    os.replace(tmp, dest)


def resolve_inception_weights(weights: str | Path | None, cache_dir: Path) -> Path:
    """The Inception weights file: the given path, else ``$SCOREBENCH_INCEPTION_WEIGHTS``,
    else ``<cache>/weights/<standard name>`` (also torch hub's checkpoint dir, where
    torch-fidelity itself puts it), else download it there; on failure a
    DataUnavailableError that says what to fetch and where to put it."""
    if weights is None and os.environ.get(INCEPTION_WEIGHTS_ENV, "").strip():
        weights = os.environ[INCEPTION_WEIGHTS_ENV].strip()
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise DataUnavailableError(
                f"Inception weights file {str(path)!r} does not exist (given by the "
                f"inception_weights argument / --inception-weights / ${INCEPTION_WEIGHTS_ENV}). "
                f"Download {INCEPTION_WEIGHTS_URL} and pass its path."
            )
        return path
    dest = cache_dir / "weights" / INCEPTION_WEIGHTS_FILE
    if dest.is_file():
        return dest
    try:
        import torch.hub

        hub_copy = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE
        if hub_copy.is_file():
            return hub_copy
    except Exception:  # torch hub dir unresolvable: just not there
        pass
    if not _offline():
        try:
            _download_inception(dest)
            return dest
        except Exception as exc:
            reason = f"the download failed ({type(exc).__name__}: {exc})"
    else:
        reason = f"downloads are disabled (${OFFLINE_ENV}=1)"
    raise DataUnavailableError(
        f"The Inception-v3 weights {INCEPTION_WEIGHTS_FILE} are not available offline and "
        f"{reason}. Fetch {INCEPTION_WEIGHTS_URL} and put it at {dest} (scorebench's cache), "
        f"or pass its path with --inception-weights / inception_weights= / "
        f"${INCEPTION_WEIGHTS_ENV}."
    )


class _InceptionPrepared(PreparedExtractor):
    def torchmetrics_fid(self, device: Any) -> Any:
        from torchmetrics.image.fid import FrechetInceptionDistance

        # antialias=False selects torch-fidelity's TF1 bilinear resize, as our engine uses.
        return FrechetInceptionDistance(
            feature=2048,
            normalize=False,
            feature_extractor_weights_path=self.weights_argument(),
            antialias=False,
        ).to(device)


class InceptionV3Spec:
    """torch-fidelity's ``inception-v3-compat``: TF-exact bilinear resize to 299x299 and the
    2015-12-05 TF Inception weights; IS on unbiased logits, FID/KID/PRC on pool3 (2048)."""

    name = "inception-v3"
    fidelity_name = "inception-v3-compat"
    accepts_inception_weights = True

    def __init__(self, internal_dtype: str = "float32") -> None:
        if internal_dtype != "float32":
            # torch-fidelity 0.4 maps "float64" to float32 internally (helpers.text_to_dtype),
            # so anything else would put a false claim into the fingerprint.
            raise ConfigError(
                f"inception-v3: internal_dtype {internal_dtype!r} is not supported; "
                "torch-fidelity runs this extractor in float32."
            )
        self.internal_dtype = internal_dtype

    def prepare(
        self,
        *,
        weights: str | Path | InceptionWeights | None = None,
        cache_dir: Path,
        data_root: str | Path | None = None,
    ) -> PreparedExtractor:
        choice = weights if isinstance(weights, InceptionWeights) else InceptionWeights(weights)
        path = resolve_inception_weights(choice.path, cache_dir)
        data = path.read_bytes()  # hashed and loaded from the same bytes
        sha256 = hashlib.sha256(data).hexdigest()
        standard = sha256.startswith(INCEPTION_SHA256_PREFIX)
        if not standard and not choice.trusted:
            raise ConfigError(
                f"Inception weights {path} have SHA-256 {sha256[:16]}..., not the standard "
                f"file's {INCEPTION_SHA256_PREFIX}... ({INCEPTION_WEIGHTS_FILE}). Fetch "
                f"{INCEPTION_WEIGHTS_URL} again, or pass --trust-weights to use this file "
                "anyway (its hash and the flag go into the protocol fingerprint)."
            )
        layers = {"isc": "logits_unbiased", "fid": "2048", "kid": "2048", "prc": "2048"}
        protocol = {
            "name": self.name,
            "fidelity_name": self.fidelity_name,
            "weights_file": INCEPTION_WEIGHTS_FILE if path.name == INCEPTION_WEIGHTS_FILE else None,
            "weights_sha256": sha256,
            "resize": "torch-fidelity interpolate_bilinear_2d_like_tensorflow1x to 299x299",
            "input": "uint8 RGB; 1-channel images repeated to 3 channels",
            "internal_dtype": self.internal_dtype,
        }
        if not standard:
            protocol["weights_trusted"] = True  # admitted by --trust-weights
        return _InceptionPrepared(
            name=self.name,
            fidelity_name=self.fidelity_name,
            weights_path=path,
            layers=layers,
            channels=3,
            protocol=protocol,
            state_dict=load_tensors(data, path),
        )


def load_tensors(data: bytes, path: Path) -> dict[str, Any]:
    """A state dict of tensors from a weights file's bytes, without running any of its
    code (``weights_only=True``); anything else is a clear error naming the file."""
    import torch

    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of odd files
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        detail = re.search(r"^\s*(Unsupported .+|Trying to load .+)$", str(exc), re.M)
        why = detail.group(1).strip() if detail else type(exc).__name__
        raise ConfigError(
            f"weights file {path} is not a plain state dict of tensors ({why}), so it was not "
            f"loaded and none of it ran. Use the standard {INCEPTION_WEIGHTS_FILE} from "
            f"{INCEPTION_WEIGHTS_URL}."
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ConfigError(
            f"weights file {path} holds {type(state).__name__}, not a state dict of tensors. "
            f"Use the standard {INCEPTION_WEIGHTS_FILE} from {INCEPTION_WEIGHTS_URL}."
        )
    return state
