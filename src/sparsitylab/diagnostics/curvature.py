"""Curvature of the loss, and early stopping as L2 regularization (Goodfellow et al. 2016, 7.8).

:func:`hessian_eigenvalues` differentiates the data-fit loss twice with respect to every trainable
parameter (for an engine network: weights, biases, input gate, batch-norm scale and shift, through
the engine's forward pass at prediction time; otherwise weights and biases): the full Hessian
(``jax.hessian``, then ``numpy.linalg.eigvalsh``) for small models, or the top eigenvalues by
Lanczos iteration (``scipy.sparse.linalg.eigsh``) on Hessian-vector products (forward-over-reverse
differentiation) when the Hessian is too big to form.

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

from sparsitylab.diagnostics._model import as_dense, check_targets, engine_parts, unwrap
from sparsitylab.diagnostics._plotting import new_figure

EXACT_MAX_PARAMS = 3000


def _jax_activation(name: str):
    from sparsitylab.engine.networks import ACTIVATIONS

    return ACTIVATIONS[name]


def _class_codes(y, n: int, n_outputs: int, loss: str, classes) -> np.ndarray:
    """Class codes for a cross-entropy loss: positions in ``classes`` (a classifier's
    ``classes_``), or ``y`` itself read as codes ``0 .. n_classes - 1`` (``0 / 1`` for logistic)."""
    if (loss == "logistic") != (n_outputs == 1):
        raise ValueError(
            f"loss={loss!r} needs a network with "
            f"{'1 output' if loss == 'logistic' else 'one output per class (>= 2)'}; this one "
            f"has {n_outputs} outputs"
        )
    if n == 0:
        raise ValueError("X has no rows")
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y must hold one class label per row of X, shape ({n},); got {y.shape}")
    n_classes = max(n_outputs, 2)
    if classes is not None:
        classes = np.asarray(classes)
        unseen = ~np.isin(y, classes)
        if unseen.any():
            raise ValueError(
                f"y has labels not in the model's classes_ {classes.tolist()}: "
                f"{np.unique(y[unseen])[:10].tolist()}"
            )
        if len(classes) != n_classes:
            raise ValueError(f"the model has {len(classes)} classes_ but {n_outputs} outputs")
        order = np.argsort(classes)
        return order[np.searchsorted(classes, y, sorter=order)]
    if y.dtype.kind not in "biuf" or not np.all((y == np.round(y)) & (y >= 0) & (y < n_classes)):
        raise ValueError(
            f"without classes_, y must hold the class codes 0 .. {n_classes - 1} (the network has "
            f"{n_outputs} output(s)); got labels {np.unique(y)[:10].tolist()}: encode y, or pass "
            "a classifier with classes_"
        )
    return y.astype(np.int64)


def _loss_function(model, X, y, loss: str | None, member: int):
    """Flat trainable parameters ``theta`` and ``f(theta) -> data-fit loss`` at ``(X, y)``."""
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    net = as_dense(model, member=member)  # checks the model; reads the original columns of X
    X = net.check_X(X)
    if loss is None:
        if hasattr(model, "classes_"):
            loss = "logistic" if net.n_outputs == 1 else "softmax"
        else:
            loss = "squared_error"
    if loss == "squared_error":
        yj = jnp.asarray(check_targets(y, len(X), net.n_outputs))
    elif loss in ("logistic", "softmax"):
        classes = getattr(model, "classes_", None)
        yj = jnp.asarray(_class_codes(y, len(X), net.n_outputs, loss, classes))
    else:
        raise ValueError(f"unknown loss {loss!r}; valid options are "
                         "['logistic', 'softmax', 'squared_error']")  # fmt: skip
    parts = engine_parts(model, member)
    if parts is None:  # weights and biases
        act = _jax_activation(net.activation)
        params = [(jnp.asarray(w), jnp.asarray(b))
                  for w, b in zip(net.weights, net.biases, strict=True)]  # fmt: skip
        Xj = jnp.asarray(X)

        def forward(layers):
            h = Xj
            for i, (w, b) in enumerate(layers):
                h = h @ w + b
                if i < len(layers) - 1:
                    h = act(h)
            return h

    else:  # the engine's own parameters and forward pass, in float64
        network, params, state = parts
        columns, _, network = unwrap(network)
        Xj = jnp.asarray(X if columns is None else X[:, columns])
        state = tuple({} for _ in params) if state is None else state
        params, state = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), (params, state))

        def forward(p):
            return network.apply(p, state, Xj)[0]

    theta, unravel = ravel_pytree(params)

    def f(theta):
        h = forward(unravel(theta))
        if loss == "squared_error":
            return 0.5 * jnp.mean(jnp.sum((h - yj) ** 2, axis=1))
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
    """Largest eigenvalues of the Hessian of the data-fit loss over the trainable parameters.

    The parameters are those training updates: for an engine network (an estimator, or a
    ``(network, params[, state])`` tuple) every leaf of ``params`` (weights, biases, the input gate
    of ``penalty="hadamard_input"``, batch-norm scale and shift; the running statistics are held
    fixed, as at prediction time), else the weights and biases. The loss is
    ``mean_i ||f(x_i) - y_i||^2 / 2`` for regression (``y`` of shape ``(n,)`` for one output, else
    ``(n, n_outputs)``) and the mean cross-entropy for classifiers (models with ``classes_``; ``y``
    holds labels from ``classes_``), or as named by ``loss`` (without ``classes_``, ``"logistic"`` /
    ``"softmax"`` read ``y`` as the class codes ``0 .. n_classes - 1``). ``k=None`` returns all
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
