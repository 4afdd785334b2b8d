"""Fit the ``digits-gmm`` oracle: a full-covariance Gaussian mixture of the digits train split.

Run once (the shipped file was made by :data:`scorebench_samplers.oracles.FIT_COMMAND`)::

    python -m scorebench_samplers.fit_digits_gmm --out PATH

The file is an ``.npz`` without pickles: ``means`` [K, 64], ``covariances`` [K, 64, 64],
``weights`` [K] (float64) and scalar metadata (command, versions, hyperparameters, the train
data's SHA-256, mean log-likelihoods per image on the train and test splits). Its zip entries
carry a fixed timestamp, so refitting on the same platform gives the same bytes.
"""

from __future__ import annotations

import hashlib
import zipfile
from typing import Any, BinaryIO

import numpy as np
import torch

#: One component per digit class on average. 1,437 images give each ~144 for its 2,080
#: covariance entries; K = 20 fits the train split better but the test split worse.
N_COMPONENTS = 10
#: Added to every covariance's diagonal: border pixels are 0 in (almost) every image, so
#: without a floor those variances are ~0 and the score at sigma = 0 blows up. 1e-3 (std
#: 0.03, half the digits' grey step of 1/16, ~3x the variance of uniform dequantisation noise
#: of that step) keeps each covariance's condition number near 1e3; smaller floors fit
#: tighter but make the oracle stiffer than the data's resolution justifies.
REG_COVAR = 1e-3
RANDOM_STATE = 0
FORMAT = 1


def split_matrix(split: str) -> torch.Tensor:
    """The digits ``split`` through scorebench's dataset registry, flattened: float32 [N, 64]."""
    from scorebench.api import load

    ds = load("datasets", "digits")(None, split)
    return torch.stack([ds[i] for i in range(len(ds))]).reshape(len(ds), -1)


def data_sha256(x: torch.Tensor) -> str:
    h = hashlib.sha256(str((x.dtype, tuple(x.shape))).encode())
    h.update(x.contiguous().numpy().tobytes())
    return h.hexdigest()


def fit(x: np.ndarray, n_components: int = N_COMPONENTS, reg_covar: float = REG_COVAR):
    """The fitted ``sklearn.mixture.GaussianMixture`` (one BLAS/OpenMP thread: k-means and EM
    are then reproducible on a given platform)."""
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        gmm = GaussianMixture(
            n_components=n_components,
            covariance_type="full",
            reg_covar=reg_covar,
            random_state=RANDOM_STATE,
        )
        gmm.fit(x)
    if not gmm.converged_:
        raise RuntimeError(f"EM did not converge in {gmm.max_iter} iterations")
    return gmm


def write_npz(fh: BinaryIO, arrays: dict[str, np.ndarray]) -> None:
    """What ``np.savez`` writes, but with a fixed timestamp in every zip entry."""
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.asarray(value), allow_pickle=False)


def build_arrays() -> dict[str, Any]:
    import sklearn

    from scorebench_samplers.oracles import FIT_COMMAND

    train = split_matrix("train")
    test = split_matrix("test")
    x_train = train.numpy().astype(np.float64)
    gmm = fit(x_train)
    return {
        "means": gmm.means_.astype(np.float64),
        "covariances": gmm.covariances_.astype(np.float64),
        "weights": gmm.weights_.astype(np.float64),
        "format": np.int64(FORMAT),
        "command": np.str_(FIT_COMMAND),
        "sklearn_version": np.str_(sklearn.__version__),
        "numpy_version": np.str_(np.__version__),
        "n_components": np.int64(N_COMPONENTS),
        "reg_covar": np.float64(REG_COVAR),
        "random_state": np.int64(RANDOM_STATE),
        "train_data": np.str_("digits train split, float32 [1437, 64] in [0, 1]"),
        "train_data_sha256": np.str_(data_sha256(train)),
        "n_train": np.int64(len(train)),
        # sklearn's score: mean log-density per image (nats, 64-D, pixel scale [0, 1]).
        "train_log_likelihood": np.float64(gmm.score(x_train)),
        "test_log_likelihood": np.float64(gmm.score(test.numpy().astype(np.float64))),
        "n_iter": np.int64(gmm.n_iter_),
    }


def main(argv: list[str] | None = None) -> None:
    """Fit the digits mixture and write it as an .npz."""
    import argparse

    from scorebench.api import atomic_write, file_sha256

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", required=True, help="where to write the .npz")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    arrays = build_arrays()
    atomic_write(args.out, lambda fh: write_npz(fh, arrays))
    print(
        f"{args.out}: K={int(arrays['n_components'])}, reg_covar={float(arrays['reg_covar']):g}, "
        f"mean log-likelihood train {float(arrays['train_log_likelihood']):.4f} "
        f"test {float(arrays['test_log_likelihood']):.4f}, SHA-256 {file_sha256(args.out)}"
    )


if __name__ == "__main__":
    main()
