"""Read a fitted network into plain numpy: weight matrices, biases and the activation.

The diagnostics accept, by duck typing:

* a fitted estimator with ``network_`` and ``params_`` (and ``state_``): the engine pytrees,
  stacked with a leading member axis; member ``member`` (default 0) is read;
* a ``(network, params)`` or ``(network, params, state)`` tuple with the engine's unstacked pytrees;
* an object with scikit-learn's ``coefs_`` / ``intercepts_`` / ``activation`` (``MLPRegressor``);
* a ``(weights, biases)`` pair of lists of numpy arrays (activation ReLU unless told).

Everything is converted to float64 numpy. An input gate is folded into the first weight matrix
and evaluation-mode batch normalization into the layer's affine map (a batch-norm network needs
its ``state``), and a network that ``sparsitylab.compact`` wrapped to read only some columns of
``X`` gets zero rows for the other columns, so the returned ``Dense`` computes exactly what the
network computes at prediction time, on the original ``X``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparsitylab.engine.networks import LEAKY_SLOPE

# scikit-learn's activation names -> the engine's
_ALIASES = {"identity": "linear", "logistic": "sigmoid"}
_NEGATIVE_SLOPE = {"relu": 0.0, "leaky_relu": LEAKY_SLOPE}
BN_EPS = 1e-5


@dataclass(frozen=True)
class Dense:
    """A fully connected network in numpy: ``h <- act(h @ W_l + b_l)``, last layer linear."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    activation: str = "relu"

    @property
    def n_inputs(self) -> int:
        return self.weights[0].shape[0]

    @property
    def n_outputs(self) -> int:
        return self.weights[-1].shape[1]

    @property
    def hidden(self) -> tuple[int, ...]:
        return tuple(w.shape[1] for w in self.weights[:-1])

    @property
    def piecewise_linear(self) -> bool:
        return self.activation in _NEGATIVE_SLOPE

    def act(self, z: np.ndarray) -> np.ndarray:
        a = self.activation
        if a in _NEGATIVE_SLOPE:
            return np.where(z > 0, z, _NEGATIVE_SLOPE[a] * z)
        if a == "tanh":
            return np.tanh(z)
        if a == "sigmoid":
            return 1.0 / (1.0 + np.exp(-z))
        if a == "linear":
            return z
        raise ValueError(f"unknown activation {a!r}")

    def slope(self, active: np.ndarray) -> np.ndarray:
        """Derivative of a piecewise linear activation given the on/off pattern."""
        return np.where(active, 1.0, _NEGATIVE_SLOPE[self.activation])

    def check_X(self, X) -> np.ndarray:
        """``X`` as finite float64 ``(n_samples, n_inputs)``; a 1-D ``X`` is one feature."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 0:
            raise ValueError("X must be an array of samples (n_samples, n_features), got a scalar")
        X = X[:, None] if X.ndim == 1 else X.reshape(len(X), int(np.prod(X.shape[1:])))
        if X.shape[1] != self.n_inputs:
            raise ValueError(f"X has {X.shape[1]} features, the network expects {self.n_inputs}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinite values")
        return X

    def forward(self, X) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """``(output, pre-activations, post-activations)`` of every hidden layer."""
        h = self.check_X(X)
        pre, post = [], []
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            z = h @ w + b
            h = self.act(z)
            pre.append(z)
            post.append(h)
        return h @ self.weights[-1] + self.biases[-1], pre, post


def check_targets(y, n: int, n_outputs: int) -> np.ndarray:
    """Regression targets as finite float64 ``(n, n_outputs)``; ``(n,)`` is read as one output."""
    if n == 0:
        raise ValueError("X has no rows")
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1 and n_outputs == 1:
        y = y[:, None]
    if y.shape != (n, n_outputs):
        want = f"({n},) or ({n}, 1)" if n_outputs == 1 else f"({n}, {n_outputs})"
        raise ValueError(
            f"y has shape {y.shape}, but X has {n} rows and the network {n_outputs} output(s): "
            f"y must have shape {want}"
        )
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinite values")
    return y


def _np(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def unwrap(network):
    """``(columns or None, n_features, inner network)``: ``sparsitylab.compact`` wraps a network
    whose inputs it dropped so that it reads ``X[:, columns]`` of ``n_features`` columns (read by
    duck typing, ``columns`` / ``inner`` / ``n_features``: the diagnostics do not import
    ``sparse``)."""
    inner = getattr(network, "inner", None)
    if inner is not None and hasattr(network, "columns"):
        return np.asarray(network.columns, dtype=np.intp), int(network.n_features), inner
    return None, None, network


def pad_rows(w: np.ndarray, columns: np.ndarray, n_features: int) -> np.ndarray:
    """The ``(n_features, ...)`` array with ``w``'s rows at ``columns`` and zeros elsewhere."""
    full = np.zeros((n_features, *w.shape[1:]), dtype=w.dtype)
    full[columns] = w
    return full


def engine_parts(model, member: int = 0):
    """``(network, params, state or None)`` of an engine model (one member of an estimator, or a
    ``(network, params[, state])`` tuple), ``None`` for any other model."""
    if hasattr(model, "network_") and hasattr(model, "params_"):
        params = _member(model.params_, member)
        state = _member(model.state_, member) if getattr(model, "state_", None) else None
        return model.network_, params, state
    if isinstance(model, tuple | list) and len(model) in (2, 3):
        first = model[0]
        if hasattr(first, "init") and hasattr(first, "apply"):
            return first, model[1], model[2] if len(model) == 3 else None
    return None


def _from_engine(network, params, state=None) -> Dense:
    columns, n_features, network = unwrap(network)
    if not hasattr(network, "hidden") or not hasattr(network, "activation"):
        raise TypeError(
            f"{type(network).__name__} is not a fully connected network; the diagnostics read "
            "MLP networks (an estimator's network_, or a (network, params) pair)"
        )
    if type(network).__name__ == "CNN":
        raise TypeError("this diagnostic reads fully connected (MLP) networks, not a CNN")
    weights, biases = [], []
    n_hidden = len(network.hidden)
    for i, layer in enumerate(params):
        w = _np(layer["w"])
        if w.ndim != 2:
            raise ValueError(
                f"layer {i}'s weights have shape {w.shape}, not (inputs, units): these params "
                "carry a leading member axis (an estimator's params_ stack its members); pass "
                "the estimator itself (with member=...) or the params of one member"
            )
        b = _np(layer["b"]) if "b" in layer else np.zeros(w.shape[1])
        if i == 0 and "gate" in layer:
            w = _np(layer["gate"])[:, None] * w
        if i < n_hidden and "scale" in layer:
            stats = state[i] if state is not None else {}
            if "mean" not in stats or "var" not in stats:
                raise ValueError(
                    "this network uses batch normalization, whose running mean and variance "
                    "are in its state: pass (network, params, state), not (network, params)"
                )
            g = _np(layer["scale"]) / np.sqrt(_np(stats["var"]) + BN_EPS)
            w, b = w * g, (b - _np(stats["mean"])) * g + _np(layer["shift"])
        if i == 0 and columns is not None:  # zero rows for the columns the network does not read
            w = pad_rows(w, columns, n_features)
        weights.append(w)
        biases.append(b)
    act = _ALIASES.get(network.activation, network.activation)
    return Dense(tuple(weights), tuple(biases), act)


def take_member(values, member: int) -> np.ndarray:
    """``values[member]`` along the leading member axis, with a clear error for a bad index."""
    values = np.asarray(values)
    n = values.shape[0]
    if isinstance(member, bool) or not isinstance(member, int | np.integer) or not 0 <= member < n:
        raise ValueError(f"member must be an integer in [0, {n}) ({n} members), got {member!r}")
    return values[member]


def _member(tree, member: int):
    import jax

    return jax.tree_util.tree_map(lambda a: take_member(a, member), tree)


def as_dense(model, *, member: int = 0, activation: str | None = None) -> Dense:
    """Convert any supported model description to a :class:`Dense` (see the module docstring)."""
    if isinstance(model, Dense):
        return model
    parts = engine_parts(model, member)
    if parts is not None:
        return _from_engine(*parts)
    if hasattr(model, "coefs_") and hasattr(model, "intercepts_"):
        act = activation or getattr(model, "activation", "relu")
        return Dense(
            tuple(_np(w) for w in model.coefs_),
            tuple(_np(b) for b in model.intercepts_),
            _ALIASES.get(act, act),
        )
    if isinstance(model, tuple | list) and len(model) in (2, 3):
        weights, biases = model[0], model[1]
        if len(weights) != len(biases) or not len(weights):
            raise ValueError("a (weights, biases) pair needs two lists of the same, nonzero length")
        act = activation or (model[2] if len(model) == 3 else "relu")
        return Dense(tuple(_np(w) for w in weights), tuple(_np(b) for b in biases), act)
    raise TypeError(
        "cannot read a network from "
        f"{type(model).__name__}; pass a fitted estimator (network_ and params_), a "
        "(network, params) pair, or a (weights, biases) pair of lists of arrays"
    )


def require_piecewise_linear(net: Dense, what: str) -> None:
    if not net.piecewise_linear:
        raise ValueError(
            f"{what} is defined for piecewise linear networks (activation 'relu' or "
            f"'leaky_relu'); this network uses {net.activation!r}"
        )
