"""Gradients through training: per-layer norms, activation-pattern changes, vanishing gradients.

* :func:`gradient_norm_history` and :func:`hamming_history` read what an estimator recorded inside
  its compiled training loop (``record=("grad_norm", "hamming", "max_error")``).
* :func:`chain_network_gradients` is seed 001's chain of ``L`` neurons, differentiated with
  ``jax.grad``: with sigmoid units each backward step multiplies by ``w_l sigma'(z_l) <= w_l / 4``,
  so the gradient shrinks geometrically towards the input; with ReLU units the factor is ``w_l``.
* :func:`cnn_gradient_experiment` is seed 003's problem 5: a small CNN on the bundled MNIST 5k
  digits, gradient norms, loss and classification error per epoch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sparsitylab.diagnostics._model import take_member
from sparsitylab.diagnostics._plotting import new_figure


# --------------------------------------------------------------------------- recorded histories
def _history(model, key: str, option: str, member: int) -> np.ndarray:
    history = getattr(model, "history_", None)
    if history is None:
        raise ValueError("the model has no history_: fit it first")
    if key not in history:
        raise ValueError(
            f"the model's history_ has no {key!r}: fit it with record=({option!r}, ...) "
            f"(recorded: {sorted(history)})"
        )
    values = np.asarray(history[key])
    expected = {"grad_norm": 2, "hamming": 1, "max_error": 1, "loss": 1, "val_loss": 1,
                "sparsity": 2}.get(key, values.ndim)  # fmt: skip
    if values.ndim == expected + 1:  # one row per ensemble member
        return take_member(values, member)
    return take_member(values[None], member)  # a single member: only member 0 exists


def _valid_epochs(values: np.ndarray) -> np.ndarray:
    """Rows of epochs that ran (the trainer pads epochs after an early stop with NaN or -1)."""
    v = values.reshape(len(values), -1).astype(np.float64)
    return np.all(np.isfinite(v) & (v >= 0), axis=1)


def gradient_norm_history(model, *, member: int = 0) -> pd.DataFrame:
    """Per-epoch L2 norm of the loss gradient for each layer, and in total.

    Columns ``layer_0 .. layer_{L-1}`` and ``total = sqrt(sum_l norm_l^2)``; index ``epoch``
    (from 1). Needs a model fitted with ``record=("grad_norm", ...)``.
    """
    g = _history(model, "grad_norm", "grad_norm", member)
    g = g[_valid_epochs(g)]
    frame = pd.DataFrame(g, columns=[f"layer_{i}" for i in range(g.shape[1])])
    frame["total"] = np.sqrt(np.sum(g**2, axis=1))
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="epoch")
    return frame


def plot_gradient_norm_history(model, *, member: int = 0, table: pd.DataFrame | None = None):
    """Gradient norms per layer (and total) against the epoch, log scale."""
    table = gradient_norm_history(model, member=member) if table is None else table
    fig, ax = new_figure()
    for col in table.columns:
        ax.semilogy(table.index, table[col], lw=2.0 if col == "total" else 1.0, label=col)
    ax.set_xlabel("epoch")
    ax.set_ylabel("gradient L2 norm")
    ax.legend(loc="best", fontsize="small")
    return fig


def hamming_history(model, *, member: int = 0) -> pd.DataFrame:
    """Per-epoch Hamming distance between the ReLU patterns at the epoch's start and end.

    Over all training rows and hidden units. Columns ``hamming`` and, when recorded, ``loss``
    (the epoch's mean training objective) and ``max_error`` (largest ``|f(x) - y|``); index
    ``epoch`` (from 1). Needs a model fitted with ``record=("hamming", ...)``.
    """
    h = _history(model, "hamming", "hamming", member)
    keep = _valid_epochs(h)
    frame = pd.DataFrame({"hamming": h[keep].astype(np.int64)})
    for key in ("loss", "max_error"):
        if key in model.history_:
            v = _history(model, key, key, member)
            frame[key] = v[: len(keep)][keep]
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="epoch")
    return frame


def plot_hamming_history(model, *, member: int = 0, table: pd.DataFrame | None = None):
    """Seed 003's figures: pattern changes per epoch, and mean / maximum training error."""
    table = hamming_history(model, member=member) if table is None else table
    fig, axes = new_figure(figsize=(10, 4), ncols=2)
    axes[0].plot(table.index, table["hamming"], marker=".")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("Hamming distance (start vs end of epoch)")
    axes[0].set_yscale("symlog", linthresh=1)
    if "loss" in table:
        axes[1].semilogy(table.index, table["loss"], label="training loss (mean)")
    if "max_error" in table:
        axes[1].semilogy(table.index, table["max_error"], label="max |f(x) - y|")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("training error")
    axes[1].legend(loc="best")
    return fig


# --------------------------------------------------------------------------- chain network
def chain_network_gradients(
    n_neurons: int = 5, activation: str = "sigmoid", *, n_epochs: int = 100, lr: float = 1e-2,
    x: float = 0.5, random_state=0,
) -> pd.DataFrame:  # fmt: skip
    """Seed 001's chain network: ``n_neurons`` units in a line, the first being the input.

    ``a_0 = x``, ``a_l = act(w_l a_{l-1} + b_l)`` for ``l = 1 .. L-1``, loss
    ``C = (a_{L-1} - sin x)^2 / 2``; weights and biases start uniform on [0, 1) and are updated by
    plain gradient descent. Returns ``|dC/dw_l|`` per epoch (rows) and layer (columns ``w_1 ..``),
    computed with ``jax.grad`` before each update.
    """
    import jax
    import jax.numpy as jnp

    acts = {"sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu, "tanh": jnp.tanh}
    if activation not in acts:
        raise ValueError(f"unknown activation {activation!r}; valid options are {sorted(acts)}")
    if n_neurons < 2:
        raise ValueError(f"the chain needs at least 2 neurons (input and output), got {n_neurons}")
    act = acts[activation]
    rng = np.random.default_rng(random_state)
    w = jnp.asarray(rng.uniform(size=n_neurons - 1))
    b = jnp.asarray(rng.uniform(size=n_neurons - 1))
    target = np.sin(x)

    def loss(w, b):
        a = jnp.asarray(x, w.dtype)
        for i in range(n_neurons - 1):
            a = act(w[i] * a + b[i])
        return 0.5 * (a - target) ** 2

    grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
    rows = []
    for _ in range(n_epochs):
        gw, gb = grad(w, b)
        rows.append(np.abs(np.asarray(gw)))
        w, b = w - lr * gw, b - lr * gb
    frame = pd.DataFrame(np.array(rows), columns=[f"w_{i + 1}" for i in range(n_neurons - 1)])
    frame.index = pd.RangeIndex(1, n_epochs + 1, name="epoch")
    return frame


def plot_chain_network_gradients(n_neurons: int = 5, **kwargs):
    """``|dC/dw_l|`` per layer through training, sigmoid beside ReLU, on a log scale."""
    fig, axes = new_figure(figsize=(10, 4), ncols=2, sharey=True)
    for ax, act in zip(axes, ("sigmoid", "relu"), strict=True):
        table = chain_network_gradients(n_neurons, act, **kwargs)
        for col in table.columns:
            ax.semilogy(table.index, table[col], label=col)
        ax.set_title(f"chain of {n_neurons} neurons, {act}")
        ax.set_xlabel("epoch")
    axes[0].set_ylabel("|dC/dw_l|")
    axes[0].legend(loc="best", fontsize="small")
    return fig


# --------------------------------------------------------------------------- CNN on MNIST
def cnn_gradient_experiment(
    *, n_epochs: int = 25, batch_size: int = 100, lr: float = 1e-3, channels=(8,),
    n_samples: int | None = None, test_size: float = 0.2, random_state=0,
) -> pd.DataFrame:  # fmt: skip
    """Seed 003, problem 5: a CNN (conv -> ReLU -> max-pool -> dense softmax) on MNIST 5k.

    Trained by the engine's compiled loop (Adam, cross-entropy, shuffled minibatches) with the
    in-loop records ``grad_norm`` and ``error_rate``; the test rows are passed as validation data,
    used only for the records (no early stopping). Returns one row per epoch: the L2 norm of the
    epoch's mean gradient per layer (``grad_conv0``, ``grad_dense0``...) and in total, the mean
    training loss, and the training and test classification errors at the end of the epoch.
    """
    import jax
    from sklearn.model_selection import train_test_split

    from sparsitylab.datasets import load_mnist5k
    from sparsitylab.engine.networks import CNN
    from sparsitylab.engine.optimizers import Optimizer
    from sparsitylab.engine.penalties import Sum
    from sparsitylab.engine.trainer import Data, Member, TrainConfig, stack_members, train

    X, y = load_mnist5k(return_X_y=True)
    if n_samples is not None and n_samples < len(y):
        # a stratified subset: the bundled rows are sorted by digit, so the first rows would
        # hold only zeros and ones
        X, _, y, _ = train_test_split(
            X, y, train_size=n_samples, stratify=y, random_state=random_state
        )
    Xtr, Xte, ytr, yte = train_test_split(
        X, y, test_size=test_size, stratify=y, random_state=random_state
    )
    net = CNN(channels=tuple(channels), dtype="float32")
    config = TrainConfig(
        loss="softmax", max_epochs=int(n_epochs), batch_size=int(batch_size),
        record=("grad_norm", "error_rate"),
    )  # fmt: skip
    data = Data(
        np.asarray(Xtr, np.float32), np.asarray(ytr, np.int32),
        np.asarray(Xte, np.float32), np.asarray(yte, np.int32),
    )  # fmt: skip
    member = Member(
        jax.random.PRNGKey(random_state), Sum(()), Optimizer("adam", float(lr)), 0.0,
        np.ones(len(ytr), np.float32), np.ones(len(yte), np.float32),
    )  # fmt: skip
    result = train(net, config, data, stack_members([member]))
    h = {k: np.asarray(v[0], np.float64) for k, v in result.history.items()}
    params = jax.tree.map(lambda v: v[0], result.params)
    names = [f"grad_conv{i}" for i in range(len(channels))]
    names += [f"grad_dense{i}" for i in range(len(params) - len(channels))]
    norms = h["grad_norm"]
    frame = pd.DataFrame(dict(zip(names, norms.T, strict=True)))
    frame["grad_total"] = np.sqrt(np.sum(norms**2, axis=1))
    frame["loss"] = h["loss"]
    frame["train_error"] = h["error_rate"]
    frame["test_error"] = h["val_error_rate"]
    frame.index = pd.RangeIndex(1, n_epochs + 1, name="epoch")
    frame.attrs["params"] = params
    frame.attrs["network"] = net
    return frame


def plot_cnn_gradient_experiment(table: pd.DataFrame):
    """Gradient norms, classification error and loss per epoch (seed 003's three figures)."""
    fig, axes = new_figure(figsize=(13, 3.8), ncols=3)
    for col in [c for c in table.columns if c.startswith("grad_")]:
        axes[0].semilogy(table.index, table[col], label=col)
    axes[0].set_ylabel("gradient L2 norm")
    axes[0].legend(fontsize="small")
    axes[1].plot(table.index, table["train_error"], label="train")
    axes[1].plot(table.index, table["test_error"], label="test")
    axes[1].set_ylabel("classification error")
    axes[1].legend()
    axes[2].semilogy(table.index, table["loss"])
    axes[2].set_ylabel("training loss (cross-entropy)")
    for ax in axes:
        ax.set_xlabel("epoch")
    return fig
