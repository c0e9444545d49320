"""ReLU vs linear on non-negative data (seed 002).

If every feature is >= 0 and every hidden weight and bias is >= 0, every hidden pre-activation is
>= 0, so each ReLU is the identity and the network is the linear model
``x -> x W_1 W_2 ... W_{L+1} + c``. Conversely a linear model is such a network's special case, so a
network trained to its global optimum has a loss never above least squares.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sparsitylab.diagnostics._model import as_dense, check_targets, require_piecewise_linear
from sparsitylab.diagnostics._plotting import new_figure


def collapse_nonnegative_relu(model, *, member: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(coef (n_inputs, n_outputs), intercept (n_outputs,))`` of the linear model a ReLU network
    with non-negative hidden weights and biases equals on non-negative inputs."""
    net = as_dense(model, member=member)
    require_piecewise_linear(net, "collapsing a network to a linear model")
    for i, (w, b) in enumerate(zip(net.weights[:-1], net.biases[:-1], strict=True)):
        if np.any(w < 0) or np.any(b < 0):
            raise ValueError(
                f"hidden layer {i} has negative weights or biases; the collapse needs every "
                "hidden weight and bias >= 0"
            )
    coef, intercept = np.eye(net.n_inputs), np.zeros(net.n_inputs)
    for w, b in zip(net.weights, net.biases, strict=True):
        coef, intercept = coef @ w, intercept @ w + b
    return coef, intercept


def relu_vs_least_squares(model, X, y, *, member: int = 0) -> pd.Series:
    """Training loss ``sum_i ||f(x_i) - y_i||^2 / 2`` of the network beside that of least squares
    (with an intercept), and whether the network is not worse (``network_not_worse``, up to a
    relative ``1e-6``). ``y`` is ``(n,)`` for one output, else ``(n, n_outputs)``."""
    net = as_dense(model, member=member)
    X = net.check_X(X)
    y = check_targets(y, len(X), net.n_outputs)
    if np.any(X < 0):
        raise ValueError("relu_vs_least_squares is about non-negative features; X has negatives")
    pred, _, _ = net.forward(X)
    A = np.column_stack([X, np.ones(len(X))])
    beta, *_ = np.linalg.lstsq(A, y, rcond=None)
    nn = 0.5 * float(np.sum((pred - y) ** 2))
    ls = 0.5 * float(np.sum((A @ beta - y) ** 2))
    return pd.Series({"network_loss": nn, "least_squares_loss": ls,
                      "network_not_worse": nn <= ls * (1 + 1e-6) + 1e-12})  # fmt: skip


def plot_relu_vs_least_squares(model, X, y, *, member: int = 0):
    """Predictions against targets for the network and for least squares (first output)."""
    net = as_dense(model, member=member)
    s = relu_vs_least_squares(net, X, y)
    X = net.check_X(X)
    y = check_targets(y, len(X), net.n_outputs)[:, 0]
    pred = net.forward(X)[0][:, 0]
    A = np.column_stack([X, np.ones(len(X))])
    ls = A @ np.linalg.lstsq(A, y, rcond=None)[0]
    fig, ax = new_figure(figsize=(5, 5))
    ax.plot(y, pred, ".", label=f"network (loss {s['network_loss']:.4g})")
    ax.plot(y, ls, "x", ms=4, label=f"least squares (loss {s['least_squares_loss']:.4g})")
    lims = [y.min(), y.max()]
    ax.plot(lims, lims, "k--", lw=0.8)
    ax.set_xlabel("target")
    ax.set_ylabel("prediction")
    ax.legend()
    return fig
