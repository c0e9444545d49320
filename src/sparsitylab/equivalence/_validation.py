"""Input checks shared by the solvers, the paths and the estimators built on them.

Each public function of ``equivalence`` that takes raw data checks it here, with scikit-learn's
messages (``Input X contains NaN.``), before any arithmetic can turn a bad value into a plausible
number or blame a derived quantity (an alpha computed from NaN data) for it.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils.validation import check_array, check_X_y


def check_Xy(X, y):
    """``X`` as a finite 2-D float array, ``y`` as a finite 1-D float array of the same length."""
    return check_X_y(X, y, dtype=np.float64, y_numeric=True)


def check_positive(value, name, *, upper=None):
    """``value`` as a float: a real number, not a bool, finite and > 0 (and <= ``upper``)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite real number > 0, got {value!r}.")
    if not value > 0 or (upper is not None and value > upper):
        bound = "> 0" if upper is None else f"in (0, {upper:g}]"
        raise ValueError(f"{name} must be {bound}, got {value!r}.")
    return float(value)


def check_alpha(alpha):
    """A single alpha (the weight decay, the sparse penalty's strength): finite and > 0."""
    try:
        return check_positive(alpha, "alpha")
    except ValueError as err:
        raise ValueError(
            f"{err} alpha is the weight decay of the network and the strength of the sparse "
            "penalty (alpha = 0 is unpenalised least squares: use "
            "sklearn.linear_model.LinearRegression)."
        ) from None


def check_positive_int(value, name):
    """``value`` as an int >= 1 (not a bool)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    return int(value)


def check_alphas(alphas, *, zero=False):
    """``alphas`` as a non-empty 1-D float array whose entries are all finite and > 0 (>= 0 with
    ``zero=True``: a network fitted with no penalty is a point of its path; a sparse model's
    alpha = 0 is not, it is unpenalised least squares)."""
    bound = ">= 0" if zero else "> 0"
    try:
        arr = np.asarray(alphas, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"alphas must be a non-empty 1-D sequence of real numbers {bound}, got {alphas!r}."
        )
    bad = np.flatnonzero(~(np.isfinite(arr) & ((arr >= 0) if zero else (arr > 0))))
    if bad.size:
        j = bad[0]
        hint = "" if zero else " (alpha = 0 is unpenalised least squares: use LinearRegression)"
        got = f"alphas[{j}] = {float(arr[j])!r}"
        raise ValueError(f"every alpha must be a finite real number {bound}, got {got}{hint}.")
    return arr


def check_observed(Y, mask):
    """``Y`` as a 2-D float array and ``mask`` as a boolean array of its shape; the entries that
    ``mask`` marks observed must be finite (the others are ignored and may be NaN)."""
    Y = check_array(Y, dtype=np.float64, ensure_all_finite=False)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != Y.shape:
        raise ValueError(f"mask has shape {mask.shape}, Y has shape {Y.shape}.")
    if not np.all(np.isfinite(Y[mask])):
        raise ValueError("Input Y contains NaN or infinity among its observed entries.")
    return Y, mask
