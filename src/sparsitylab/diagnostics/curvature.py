"""Curvature of the loss, and early stopping as L2 regularization (Goodfellow et al. 2016, 7.8).

:func:`hessian_eigenvalues` differentiates the data-fit loss twice with respect to every weight and
bias: the full Hessian (``jax.hessian``, then ``numpy.linalg.eigvalsh``) for small models, or the
top eigenvalues by Lanczos iteration (``scipy.sparse.linalg.eigsh``) on Hessian-vector products
(forward-over-reverse differentiation) when the Hessian is too big to form.

:func:`early_stopping_vs_ridge` checks the classical equivalence on a quadratic
``C(w) = (w - w*)^T H (w - w*) / 2`` with ``H = Q diag(lambda) Q^T``: gradient descent from
``w = 0`` with step ``eps`` stopped after ``tau`` steps gives, along eigen-direction ``j``,
``Q^T w_tau = [1 - (1 - eps lambda_j)^tau] Q^T w*``, while ridge with penalty ``alpha ||w||^2 / 2``
gives ``[1 - alpha / (lambda_j + alpha)] Q^T w*``; with ``alpha = 1 / (tau eps)`` both keep the
directions with ``lambda_j >> alpha`` and shrink those with ``lambda_j << alpha`` by about
``lambda_j / alpha``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sparsitylab.diagnostics._model import as_dense
from sparsitylab.diagnostics._plotting import new_figure

EXACT_MAX_PARAMS = 3000


def _jax_activation(name: str):
    from sparsitylab.engine.networks import ACTIVATIONS

    return ACTIVATIONS[name]


def _loss_function(model, X, y, loss: str | None, member: int):
    """Flat parameter vector and ``f(theta) -> data-fit loss`` of the model at ``(X, y)``."""
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    net = as_dense(model, member=member)
    act = _jax_activation(net.activation)
    X = jnp.asarray(np.asarray(X, dtype=np.float64).reshape(len(X), -1))
    y = np.asarray(y)
    if loss is None:
        if hasattr(model, "classes_"):
            loss = "logistic" if net.weights[-1].shape[1] == 1 else "softmax"
        else:
            loss = "squared_error"
    if loss in ("logistic", "softmax"):
        classes = getattr(model, "classes_", np.unique(y))
        y = np.searchsorted(classes, y)
    elif loss != "squared_error":
        raise ValueError(f"unknown loss {loss!r}; valid options are "
                         "['logistic', 'softmax', 'squared_error']")  # fmt: skip
    yj = jnp.asarray(y, dtype=jnp.float64 if loss == "squared_error" else jnp.int32)
    params = [(jnp.asarray(w), jnp.asarray(b))
              for w, b in zip(net.weights, net.biases, strict=True)]  # fmt: skip
    theta, unravel = ravel_pytree(params)

    def f(theta):
        layers = unravel(theta)
        h = X
        for i, (w, b) in enumerate(layers):
            h = h @ w + b
            if i < len(layers) - 1:
                h = act(h)
        if loss == "squared_error":
            return 0.5 * jnp.mean(jnp.sum((h - yj.reshape(len(h), -1)) ** 2, axis=1))
        if loss == "logistic":
            z = h[:, 0]
            return jnp.mean(jax.nn.softplus(z) - yj * z)
        logz = jax.nn.logsumexp(h, axis=1)
        return jnp.mean(logz - jnp.take_along_axis(h, yj[:, None], axis=1)[:, 0])

    return theta, f


def hessian_eigenvalues(
    model, X, y, k: int | None = None, *, loss: str | None = None, method: str = "auto",
    member: int = 0,
) -> np.ndarray:  # fmt: skip
    """Largest eigenvalues of the Hessian of the data-fit loss at the model's parameters.

    The loss is ``mean_i ||f(x_i) - y_i||^2 / 2`` for regression and the mean cross-entropy for
    classifiers (models with ``classes_``), or as named by ``loss``. ``k=None`` returns all
    eigenvalues (exact method only). ``method``: ``"exact"`` (form the Hessian), ``"lanczos"``
    (Hessian-vector products) or ``"auto"`` (exact up to 3,000 parameters). Returns the ``k``
    largest eigenvalues, in decreasing order.
    """
    import jax
    from scipy.sparse.linalg import LinearOperator, eigsh

    theta, f = _loss_function(model, X, y, loss, member)
    n = theta.size
    if method == "auto":
        method = "exact" if n <= EXACT_MAX_PARAMS else "lanczos"
    if method not in ("exact", "lanczos"):
        raise ValueError(
            f"unknown method {method!r}; valid options are ['auto', 'exact', 'lanczos']"
        )
    if k is not None and not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of parameters ({n}), got {k}")
    if method == "exact":
        H = np.asarray(jax.jit(jax.hessian(f))(theta))
        vals = np.linalg.eigvalsh(0.5 * (H + H.T))[::-1]
        return vals if k is None else vals[:k]
    if k is None:
        raise ValueError("the Lanczos method needs k (how many top eigenvalues)")
    if k >= n:
        raise ValueError(f"the Lanczos method needs k < the number of parameters ({n})")
    grad = jax.grad(f)
    hvp = jax.jit(lambda v: jax.jvp(grad, (theta,), (v,))[1])
    op = LinearOperator((n, n), matvec=lambda v: np.asarray(hvp(np.ravel(v))), dtype=np.float64)
    vals = eigsh(op, k=k, which="LA", return_eigenvectors=False, tol=1e-10)
    return np.sort(vals)[::-1]


def plot_hessian_eigenvalues(model, X, y, k: int | None = None, **kwargs):
    """The Hessian's eigenvalues in decreasing order (absolute value, log scale)."""
    vals = hessian_eigenvalues(model, X, y, k=k, **kwargs)
    fig, ax = new_figure()
    idx = np.arange(1, len(vals) + 1)
    pos = vals > 0
    ax.semilogy(idx[pos], vals[pos], "o", ms=3, label="positive")
    if (~pos).any():
        ax.semilogy(idx[~pos], -vals[~pos], "x", ms=3, label="negative (|value|)")
    ax.set_xlabel("rank")
    ax.set_ylabel("Hessian eigenvalue")
    ax.legend(loc="best")
    return fig


# --------------------------------------------------------------------------- early stopping ~ L2
def early_stopping_vs_ridge(
    eigenvalues, lr: float, n_steps: int, *, w_star=None, random_state=0
) -> pd.DataFrame:
    """Gradient descent stopped after ``n_steps`` vs ridge with ``alpha = 1 / (n_steps lr)``.

    Builds the quadratic ``C(w) = (w - w*)^T H (w - w*) / 2`` with the given (positive)
    ``eigenvalues`` and a random orthogonal eigenbasis, runs gradient descent from 0, solves the
    ridge problem, and returns per eigen-direction: ``eigenvalue``, ``gd`` and ``gd_closed_form``
    (the fraction of ``w*`` recovered, simulated and ``1 - (1 - lr lambda)^tau``), ``ridge`` and
    ``ridge_closed_form`` (solved and ``1 - alpha / (lambda + alpha)``), and ``alpha``.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    if lam.size == 0 or np.any(lam <= 0):
        raise ValueError("eigenvalues must be a non-empty list of positive numbers")
    if lr <= 0 or n_steps < 1:
        raise ValueError(f"need lr > 0 and n_steps >= 1, got {lr} and {n_steps}")
    rng = np.random.default_rng(random_state)
    d = lam.size
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    H = (Q * lam) @ Q.T
    w_star = rng.uniform(1.0, 2.0, d) if w_star is None else np.asarray(w_star, float).ravel()
    w = np.zeros(d)
    for _ in range(n_steps):
        w = w - lr * H @ (w - w_star)
    alpha = 1.0 / (n_steps * lr)
    w_ridge = np.linalg.solve(H + alpha * np.eye(d), H @ w_star)
    proj_star = Q.T @ w_star
    return pd.DataFrame({
        "eigenvalue": lam,
        "gd": (Q.T @ w) / proj_star,
        "gd_closed_form": 1.0 - (1.0 - lr * lam) ** n_steps,
        "ridge": (Q.T @ w_ridge) / proj_star,
        "ridge_closed_form": 1.0 - alpha / (lam + alpha),
        "alpha": alpha,
    })  # fmt: skip


def plot_early_stopping_vs_ridge(eigenvalues=None, lr: float = 1e-2, n_steps: int = 50, **kw):
    """Fraction of ``w*`` kept per eigen-direction: early stopping beside ridge."""
    if eigenvalues is None:
        eigenvalues = np.logspace(-3, 1.9, 60)
    table = early_stopping_vs_ridge(eigenvalues, lr, n_steps, **kw)
    fig, ax = new_figure()
    lam = table["eigenvalue"]
    ax.semilogx(lam, table["gd_closed_form"], label=f"early stopping, tau={n_steps}")
    ax.semilogx(table["eigenvalue"], table["ridge_closed_form"], "--",
                label=f"ridge, alpha = 1/(tau eps) = {table['alpha'].iloc[0]:.3g}")  # fmt: skip
    ax.semilogx(table["eigenvalue"], table["gd"], "o", ms=3, color="C0")
    ax.semilogx(table["eigenvalue"], table["ridge"], "s", ms=3, color="C1", mfc="none")
    ax.axvline(table["alpha"].iloc[0], color="grey", lw=0.8)
    ax.set_xlabel("Hessian eigenvalue lambda_j")
    ax.set_ylabel("fraction of w*_j recovered")
    ax.legend(loc="best", fontsize="small")
    return fig
