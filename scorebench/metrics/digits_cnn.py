"""``digits-cnn``: a small CNN classifier of scikit-learn's digits, trained by scorebench,
used as the feature extractor for IS/FID/KID/PRC on digits (Inception knows no 8x8 digits).

The network ships with scorebench as a fixed, checksummed file (``weights/digits-cnn-v1.pt``,
made by ``python -m scorebench.metrics.digits_cnn``, which records its recipe and held-out
test accuracy in the file): the protocol fingerprint contains its SHA-256, so the same file
must be used on every machine. It is registered into
torch-fidelity's feature-extractor registry as ``scorebench-digits-cnn`` with two layers:
``logits`` (10 classes; IS) and ``penultimate`` (128 ReLU features; FID, KID, PRC).

Input: uint8 images ``(N, C, H, W)`` as torch-fidelity passes them; channels are averaged
to gray and the image is resized to the size the network was trained on (bilinear,
``align_corners=False``, antialiased when shrinking).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

from scorebench.errors import ConfigError, ScorebenchError
from scorebench.files import atomic_save_torch
from scorebench.metrics.extractors import PreparedExtractor
from scorebench.metrics.protocol import canonical_json, file_sha256, protocol_fingerprint
from scorebench.plugins import load

FIDELITY_NAME = "scorebench-digits-cnn"
CHECKPOINT_FORMAT = 1
#: The accuracy the recipe is expected to reach on the digits test split.
MIN_TEST_ACCURACY = 0.97
ARCHITECTURE = (
    "digits-cnn-v1: conv3x3(1,32)+relu, conv3x3(32,64)+relu, maxpool2, adaptiveavgpool(4), "
    "fc(1024,128)+relu [penultimate], fc(128,10) [logits]"
)


class DigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 4 * 4, 128)
        self.fc2 = nn.Linear(128, 10)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(penultimate, logits) for float images (N, 1, S, S) in [0, 1]."""
        h = F.relu(self.conv1(x * 2.0 - 1.0))
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        # Fixed 4x4 grid: the same head works for any training size >= 8.
        h = F.adaptive_avg_pool2d(h, 4).flatten(1)
        penultimate = F.relu(self.fc1(h))
        return penultimate, self.fc2(penultimate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[1]


def to_network_input(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (or [0, 1] float) images (N, C, H, W) -> float gray (N, 1, size, size)."""
    if x.dtype == torch.uint8:
        x = x.to(torch.float32) / 255.0
    else:
        x = x.to(torch.float32)
    if x.dim() != 4:
        raise ConfigError(f"digits-cnn expects images (N, C, H, W), got shape {tuple(x.shape)}")
    if x.shape[1] != 1:
        x = x.mean(dim=1, keepdim=True)
    if x.shape[-2:] != (size, size):
        shrinking = x.shape[-1] > size or x.shape[-2] > size
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrinking
        )
    return x


def _quantize(x: torch.Tensor) -> torch.Tensor:
    """Train on exactly what evaluation sees: images stored as uint8."""
    return torch.round(x.clamp(0, 1) * 255.0).to(torch.uint8)


class DigitsCNNFeatureExtractor(FeatureExtractorBase):
    """The torch-fidelity face of :class:`DigitsCNN`: loads a scorebench checkpoint given
    as ``feature_extractor_weights_path``."""

    def __init__(
        self, name: str, features_list: list[str], feature_extractor_weights_path=None, **kwargs
    ) -> None:
        super().__init__(name, features_list)
        if feature_extractor_weights_path is None:
            raise ConfigError(
                "digits-cnn needs its checkpoint as feature_extractor_weights_path "
                "(DigitsCNNSpec().prepare(...) gives the shipped one)."
            )
        checkpoint = load_checkpoint(feature_extractor_weights_path)
        self.input_size = int(checkpoint["input_size"])
        self.net = DigitsCNN()
        self.net.load_state_dict(checkpoint["state_dict"])
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        penultimate, logits = self.net.features(to_network_input(x, self.input_size))
        out = {"penultimate": penultimate, "logits": logits}
        return tuple(out[name] for name in self.features_list)

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return ("penultimate", "logits")

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return {"isc": "logits", "fid": "penultimate", "kid": "penultimate", "prc": "penultimate"}[
            metric
        ]

    @staticmethod
    def can_be_compiled() -> bool:
        return True

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        return torch.zeros(1, 1, 8, 8, dtype=torch.uint8)


def register_with_torch_fidelity() -> None:
    """Put the class into torch-fidelity's registry (idempotent)."""
    if FIDELITY_NAME not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(FIDELITY_NAME, DigitsCNNFeatureExtractor)


register_with_torch_fidelity()


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ScorebenchError(
            f"digits-cnn checkpoint {str(path)!r} cannot be read ({type(exc).__name__}: {exc})."
        ) from exc
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ScorebenchError(
            f"{str(path)!r} is not a digits-cnn checkpoint of format {CHECKPOINT_FORMAT}."
        )
    return checkpoint


def _train_and_test_data(
    data_root: str | Path | None, image_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:

    factory = load("datasets", "digits")
    out = []
    for split in ("train", "test"):
        ds = factory(data_root, split, image_size=image_size)
        labels = getattr(ds, "targets", None)
        if labels is None:
            raise ScorebenchError("the digits dataset gives no labels (targets); cannot train")
        images = torch.stack([ds[i] for i in range(len(ds))])
        out += [_quantize(images), torch.as_tensor(labels, dtype=torch.long)]
    return out[0], out[1], out[2], out[3]


def _data_sha256(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(str((t.dtype, tuple(t.shape))).encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def accuracy(net: DigitsCNN, images: torch.Tensor, labels: torch.Tensor, size: int) -> float:
    net.eval()
    logits = torch.cat([net(to_network_input(b, size)) for b in images.split(512)])
    return float((logits.argmax(1) == labels).float().mean())


def train_digits_cnn(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    *,
    image_size: int,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
) -> DigitsCNN:
    """Adam on cross-entropy; initialisation and shuffling both from ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = DigitsCNN()
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    x_all = to_network_input(train_x, image_size)
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(x_all), generator=generator)
        for idx in order.split(batch_size):
            loss = F.cross_entropy(net(x_all[idx]), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval()
    return net


#: The shipped feature network (package data) and its checksum. The protocol fingerprint of
#: every digits number contains this SHA-256, so it must be the same file on every machine:
#: never retrained per machine (training is not bit-identical across thread counts).
WEIGHTS_FILE = Path(__file__).parent / "weights" / "digits-cnn-v1.pt"
WEIGHTS_SHA256 = "2c81ba5751ced55b47a3c90c583fddf8dd898b04841f75cac33295f0cf4b5c61"
#: The command that produced WEIGHTS_FILE (also recorded inside it).
TRAIN_COMMAND = (
    "python -m scorebench.metrics.digits_cnn --out scorebench/metrics/weights/digits-cnn-v1.pt"
)


class DigitsCNNSpec:
    """Component ``digits-cnn``: the shipped, checksummed network (default), or another
    checkpoint of the same format given as ``weights`` (its SHA-256 goes into the
    fingerprint, so its numbers form a protocol of their own)."""

    name = "digits-cnn"
    accepts_inception_weights = False

    def __init__(self, *, weights: str | None = None) -> None:
        if weights is not None and not isinstance(weights, str):
            raise ConfigError(f"digits-cnn: weights must be a file path, got {weights!r}")
        self.weights = weights

    def prepare(
        self,
        *,
        weights: str | Path | None = None,
        cache_dir: Path,
        data_root: str | Path | None = None,
    ) -> PreparedExtractor:
        register_with_torch_fidelity()
        path = Path(self.weights).expanduser() if self.weights else WEIGHTS_FILE
        if not path.is_file():
            raise ScorebenchError(
                f"digits-cnn weights {str(path)!r} do not exist. "
                + ("Reinstall scorebench (the file ships with it)." if not self.weights else "")
            )
        sha = file_sha256(path)
        if not self.weights and sha != WEIGHTS_SHA256:
            raise ScorebenchError(
                f"the shipped digits-cnn weights {path} are damaged or replaced (SHA-256 "
                f"{sha[:16]}..., expected {WEIGHTS_SHA256[:16]}...). Reinstall scorebench; a "
                "retrained network is another protocol: DigitsCNNSpec(weights=PATH)."
            )
        checkpoint = load_checkpoint(path)
        test_accuracy = float(checkpoint["test_accuracy"])
        if test_accuracy < MIN_TEST_ACCURACY:
            warnings.warn(
                f"digits-cnn {path} reaches only {test_accuracy:.2%} on the digits test split "
                f"(expected >= {MIN_TEST_ACCURACY:.0%}); its metrics are less informative.",
                stacklevel=2,
            )
        size = int(checkpoint["input_size"])
        protocol = {
            "name": self.name,
            "fidelity_name": FIDELITY_NAME,
            "recipe_hash": checkpoint["recipe_hash"],
            "weights_sha256": sha,
            "test_accuracy": round(test_accuracy, 6),
            "n_test": int(checkpoint["n_test"]),
            "input_size": size,
            "resize": "channel mean to gray; bilinear to input_size, align_corners=False, "
            "antialias when shrinking",
            "internal_dtype": "float32",
        }
        return _DigitsPrepared(
            name=self.name,
            fidelity_name=FIDELITY_NAME,
            weights_path=path,
            layers={
                "isc": "logits",
                "fid": "penultimate",
                "kid": "penultimate",
                "prc": "penultimate",
            },
            channels=1,
            protocol=protocol,
        )


def recipe(train_data_sha256: str, **hyper: Any) -> dict[str, Any]:
    """Everything that defines a trained digits-cnn (hashed into ``recipe_hash``)."""
    return {
        "architecture": ARCHITECTURE,
        "train_data": {"dataset": "digits", "split": "train", "sha256": train_data_sha256},
        "input": "uint8 = round(clamp(x,0,1)*255); /255; channel mean; bilinear resize",
        "optimizer": {"name": "adam", "lr": hyper["lr"], "betas": [0.9, 0.999]},
        "loss": "cross-entropy",
        **{k: hyper[k] for k in ("image_size", "epochs", "batch_size", "seed")},
        "torch_major_minor": ".".join(torch.__version__.split(".")[:2]),
    }


def build_checkpoint(
    *, image_size: int = 8, epochs: int = 30, batch_size: int = 64, lr: float = 1e-3, seed: int = 0
) -> dict[str, Any]:
    """Train a digits-cnn on the digits train split and return its checkpoint (with its
    recipe and held-out test accuracy)."""
    train_x, train_y, test_x, test_y = _train_and_test_data(None, image_size)
    hyper = dict(image_size=image_size, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    spec = recipe(_data_sha256(train_x, train_y), **hyper)
    net = train_digits_cnn(train_x, train_y, **hyper)
    return {
        "format": CHECKPOINT_FORMAT,
        "recipe": canonical_json(spec),
        "recipe_hash": protocol_fingerprint(spec),
        "command": TRAIN_COMMAND,
        "input_size": image_size,
        "state_dict": net.state_dict(),
        "test_accuracy": accuracy(net, test_x, test_y, image_size),
        "n_test": len(test_y),
    }


def main(argv: list[str] | None = None) -> None:
    """Retrain the feature network (the shipped file was made by TRAIN_COMMAND)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", required=True, help="where to write the checkpoint")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    checkpoint = build_checkpoint(epochs=args.epochs, seed=args.seed)
    atomic_save_torch(checkpoint, args.out)
    print(
        f"{args.out}: test accuracy {checkpoint['test_accuracy']:.4f}, "
        f"SHA-256 {file_sha256(args.out)}"
    )


class _PenultimateOnly(nn.Module):
    """The same network for torchmetrics' custom-feature FID: uint8 in, 128 features out."""

    def __init__(self, weights_path: Path) -> None:
        super().__init__()
        self.inner = DigitsCNNFeatureExtractor(FIDELITY_NAME, ["penultimate"], weights_path)
        self.num_features = 128

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)[0]


class _DigitsPrepared(PreparedExtractor):
    def torchmetrics_fid(self, device: Any) -> Any:
        from torchmetrics.image.fid import FrechetInceptionDistance

        return FrechetInceptionDistance(
            feature=_PenultimateOnly(self.weights_path), normalize=False
        ).to(device)


if __name__ == "__main__":
    main()
