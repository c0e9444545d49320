"""Loaders for the bundled data (Boston housing, a 5,000-digit MNIST subset)."""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

BOSTON_FEATURES = (
    "CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE",
    "DIS", "RAD", "TAX", "PTRATIO", "B", "LSTAT",
)  # fmt: skip
BOSTON_TARGET = "MEDV"


def _data_path(name: str):
    return resources.files("sparsitylab.datasets").joinpath("data", name)


@cache
def _boston_array() -> np.ndarray:
    with _data_path("boston_housing.csv").open("rb") as fh:
        arr = np.loadtxt(fh, delimiter=",", dtype=np.float64)
    if arr.shape != (506, 14):  # pragma: no cover - guards a corrupted install
        raise RuntimeError(f"boston_housing.csv has shape {arr.shape}, expected (506, 14)")
    return arr


@cache
def _mnist_array() -> np.ndarray:
    with _data_path("mnist_5k.csv.gz").open("rb") as raw, gzip.open(raw) as fh:
        arr = pd.read_csv(fh, header=None, dtype=np.uint8).to_numpy()
    if arr.shape != (5000, 785):  # pragma: no cover
        raise RuntimeError(f"mnist_5k.csv.gz has shape {arr.shape}, expected (5000, 785)")
    return arr


def _output(X, y, *, return_X_y, as_frame, feature_names, target_name, descr):
    if as_frame:
        frame = pd.DataFrame(X, columns=list(feature_names))
        target = pd.Series(y, name=target_name)
        if return_X_y:
            return frame, target
        data = frame
        frame = pd.concat([frame, target], axis=1)
    else:
        if return_X_y:
            return X, y
        data, target, frame = X, y, None
    return Bunch(
        data=data,
        target=target,
        frame=frame,
        feature_names=list(feature_names),
        target_names=[target_name],
        DESCR=descr,
    )


def load_boston(*, return_X_y: bool = False, as_frame: bool = True):
    """Boston housing (Harrison & Rubinfeld 1978): 506 tracts, 13 features, target MEDV.

    MEDV is the median home value in $1000s. The column ``B`` encodes a racial proportion,
    ``1000 (Bk - 0.63)^2``; the data set is used here because it is the data of the report that
    sparsitylab reproduces, not as an endorsement of that feature.

    Parameters
    ----------
    return_X_y : bool, default False
        Return ``(X, y)`` instead of a :class:`~sklearn.utils.Bunch`.
    as_frame : bool, default True
        ``X`` as a :class:`pandas.DataFrame` with the feature names and ``y`` as a Series named
        ``MEDV``; otherwise numpy arrays.
    """
    arr = _boston_array()
    X, y = arr[:, :13].copy(), arr[:, 13].copy()
    return _output(
        X, y, return_X_y=return_X_y, as_frame=as_frame, feature_names=BOSTON_FEATURES,
        target_name=BOSTON_TARGET, descr=load_boston.__doc__,
    )  # fmt: skip


def load_mnist5k(*, return_X_y: bool = False, as_frame: bool = False, scale: bool = True):
    """A 5,000-image subset of MNIST (LeCun, Cortes & Burges), 500 images per digit.

    Each row holds the 784 pixels of a 28x28 image in row-major order, then the label.

    Parameters
    ----------
    return_X_y : bool, default False
        Return ``(X, y)`` instead of a Bunch.
    as_frame : bool, default False
        Pixels as a DataFrame with columns ``px0 .. px783`` and labels as a Series ``digit``.
    scale : bool, default True
        Pixels as float32 in [0, 1]; otherwise the raw 0-255 integers.
    """
    arr = _mnist_array()
    X = arr[:, :784]
    X = (X.astype(np.float32) / 255.0) if scale else X.copy()
    y = arr[:, 784].astype(np.int64)
    names = [f"px{i}" for i in range(784)]
    return _output(
        X, y, return_X_y=return_X_y, as_frame=as_frame, feature_names=names,
        target_name="digit", descr=load_mnist5k.__doc__,
    )  # fmt: skip
