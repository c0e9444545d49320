"""Networks as data: a frozen spec, a parameter pytree, and a pure ``apply``.

Every network here follows one protocol:

* ``net.init(key) -> (params, state)``: ``params`` is a tuple with one dict per layer; weight
  tensors are stored under ``"w"`` (the leaves penalties act on by default), biases under ``"b"``,
  batch-norm scale and shift under ``"scale"`` and ``"shift"``, an input gate under ``"gate"``.
  ``state`` holds what is not trained by gradients (batch-norm running statistics).
* ``net.apply(params, state, X, *, train=False, key=None, dropout_rate=0.0, sample_weight=None,
  capture=False, input_t=None) -> (out, new_state)``, or ``(out, new_state, preacts)`` with
  ``capture=True``, ``preacts`` being the hidden layers' pre-activations (after batch norm), one
  ``(n, units)`` array each. ``out`` is always 2-D, ``(n, n_outputs)``. ``input_t``, when given,
  is ``X.T`` already laid out in memory: a network may use it for the gradient of its first
  weights (:func:`input_product`); networks without such a layer ignore it.

Dropout is inverted dropout: in training each hidden unit is kept with probability ``1 - rate`` and
scaled by ``1 / (1 - rate)``; at evaluation it is the identity. Batch normalization uses the
(weighted) batch statistics in training and the running statistics at evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

# Every matrix product and convolution of the engine runs at full float32 precision. On CPUs this
# is what XLA does anyway; on GPUs JAX's default lets float32 products use TF32 (10-bit
# mantissas), which moves a fit by ~1e-4 relative and away from the reference solvers' answers.
PRECISION = jax.lax.Precision.HIGHEST
LEAKY_SLOPE = 0.01  # leaky ReLU's slope for z < 0 (the engine, CSR inference and diagnostics)
ACTIVATIONS: dict[str, Callable] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "linear": lambda z: z,
    "leaky_relu": partial(jax.nn.leaky_relu, negative_slope=LEAKY_SLOPE),
}


def matmul(a, b):
    """``a @ b`` at full float32 precision on every backend (:data:`PRECISION`)."""
    return jnp.matmul(a, b, precision=PRECISION)


@jax.custom_vjp
def input_product(X, X_t, W):
    """``X @ W`` for an input ``X`` that is not differentiated, with its transpose ``X_t`` at
    hand: the weight gradient ``X_t @ g`` is then a plain matrix product rather than a
    contraction over the rows of ``X``, faster on CPU for a wide first layer
    (``benchmarks/bench_engine.py``, ``input_transpose``). Worth it when the same ``X`` serves
    many steps (full-batch training), so that ``X_t`` is laid out once."""
    return matmul(X, W)


def _input_product_fwd(X, X_t, W):
    return matmul(X, W), X_t


def _input_product_bwd(X_t, g):
    return None, None, matmul(X_t, g)


input_product.defvjp(_input_product_fwd, _input_product_bwd)


def _he_normal(key, shape, dtype):
    fan_in = shape[0] if len(shape) == 2 else shape[0] * shape[1] * shape[2]
    return jax.random.normal(key, shape, dtype) * jnp.sqrt(2.0 / fan_in).astype(dtype)


def _glorot_uniform(key, shape, dtype):
    if len(shape) == 2:
        fan_in, fan_out = shape
    else:
        receptive = shape[0] * shape[1]
        fan_in, fan_out = shape[2] * receptive, shape[3] * receptive
    limit = jnp.sqrt(6.0 / (fan_in + fan_out)).astype(dtype)
    return jax.random.uniform(key, shape, dtype, -limit, limit)


INITIALIZERS: dict[str, Callable] = {"he": _he_normal, "glorot": _glorot_uniform}

BN_MOMENTUM = 0.9  # running = momentum * running + (1 - momentum) * batch
BN_EPS = 1e-5


def check_choice(kind: str, value, options) -> None:
    """Raise a ValueError naming the valid options when ``value`` is not one of them."""
    if value not in options:
        raise ValueError(f"unknown {kind} {value!r}; valid options are {sorted(options)}")


def check_number(name: str, value, ok, expected: str) -> None:
    """Raise a ValueError when ``value`` is concrete (a Python or numpy number or array) and
    ``ok(value)`` fails somewhere (NaN fails every bound); ``expected`` says what ``name`` must
    be and what to use instead. Traced and device arrays are left alone: hyperparameters are
    array leaves, traced under ``vmap``; ``trainer.train`` checks them again with numpy."""
    if not isinstance(value, int | float | np.ndarray | np.generic):
        return
    a = np.asarray(value, dtype=np.float64)
    good = np.asarray(ok(a), dtype=bool)
    if not np.all(good):
        bad = a if a.ndim == 0 else a[~np.broadcast_to(good, a.shape)][:5]
        raise ValueError(f"{name} must be {expected}; got {bad.tolist()!r}")


def _initializer(init):
    if callable(init):
        return init
    check_choice("initializer", init, INITIALIZERS)
    return INITIALIZERS[init]


def _weighted_moments(h, sample_weight):
    if sample_weight is None:
        return jnp.mean(h, axis=0), jnp.var(h, axis=0)
    w = sample_weight / jnp.maximum(jnp.sum(sample_weight), 1e-12)
    mean = jnp.einsum("n,nd->d", w, h, precision=PRECISION)
    var = jnp.einsum("n,nd->d", w, (h - mean) ** 2, precision=PRECISION)
    return mean, var


def _batch_norm(h, layer, stats, train, sample_weight):
    if train:
        mean, var = _weighted_moments(h, sample_weight)
        new = {
            "mean": BN_MOMENTUM * stats["mean"] + (1 - BN_MOMENTUM) * mean,
            "var": BN_MOMENTUM * stats["var"] + (1 - BN_MOMENTUM) * var,
        }
    else:
        mean, var, new = stats["mean"], stats["var"], stats
    h = (h - mean) * jax.lax.rsqrt(var + BN_EPS)
    return h * layer["scale"] + layer["shift"], new


def _dropout(h, rate, key):
    keep = 1.0 - rate
    mask = jax.random.bernoulli(key, keep, h.shape)
    return jnp.where(mask, h / keep, 0.0).astype(h.dtype)


@dataclass(frozen=True)
class MLP:
    """A fully connected network ``n_inputs -> hidden... -> n_outputs``.

    Each hidden block is ``dense -> [batch norm] -> activation -> [dropout]`` (with
    ``dropout_first=True``: ``dense -> dropout -> [batch norm] -> activation``); the output layer
    is dense and linear. ``input_gate=True`` multiplies the inputs elementwise by a trained gate
    vector (one weight per feature, initialized at 1) before the first layer: the Hadamard gate
    used for feature selection with weight decay.
    """

    n_inputs: int
    hidden: tuple[int, ...] = (32,)
    n_outputs: int = 1
    activation: str = "relu"
    use_bias: bool = True
    batch_norm: bool = False
    dropout: bool = False
    dropout_first: bool = False
    input_gate: bool = False
    init_scheme: str | Callable = "he"
    dtype: str = "float32"

    def __post_init__(self):
        check_choice("activation", self.activation, ACTIVATIONS)
        _initializer(self.init_scheme)
        if self.n_inputs < 1 or self.n_outputs < 1 or any(h < 1 for h in self.hidden):
            raise ValueError(f"layer sizes must be positive, got {self.sizes}")

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.n_inputs, *self.hidden, self.n_outputs)

    @property
    def n_layers(self) -> int:
        return len(self.hidden) + 1

    def init(self, key):
        init = _initializer(self.init_scheme)
        dtype = jnp.dtype(self.dtype)
        keys = jax.random.split(key, self.n_layers)
        params, state = [], []
        for i, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True)):
            layer = {"w": init(keys[i], (a, b), dtype)}
            if self.use_bias:
                layer["b"] = jnp.zeros((b,), dtype)
            stats = {}
            if self.batch_norm and i < self.n_layers - 1:
                layer["scale"] = jnp.ones((b,), dtype)
                layer["shift"] = jnp.zeros((b,), dtype)
                stats = {"mean": jnp.zeros((b,), dtype), "var": jnp.ones((b,), dtype)}
            if self.input_gate and i == 0:
                layer["gate"] = jnp.ones((a,), dtype)
            params.append(layer)
            state.append(stats)
        return tuple(params), tuple(state)

    def apply(
        self, params, state, X, *, train=False, key=None, dropout_rate=0.0,
        sample_weight=None, capture=False, input_t=None,
    ):  # fmt: skip
        act = ACTIVATIONS[self.activation]
        use_dropout = self.dropout and train
        if use_dropout and key is None:
            raise ValueError("dropout in training needs a PRNG key")
        keys = jax.random.split(key, self.n_layers) if use_dropout else [None] * self.n_layers
        h = X * params[0]["gate"] if self.input_gate else X
        new_state, preacts = [], []
        last = self.n_layers - 1
        for i, layer in enumerate(params):
            if i == 0 and input_t is not None and not self.input_gate:
                h = input_product(X, input_t, layer["w"])
            else:
                h = matmul(h, layer["w"])
            if "b" in layer:
                h = h + layer["b"]
            stats = state[i]
            if i < last:
                if use_dropout and self.dropout_first:
                    h = _dropout(h, dropout_rate, keys[i])
                if self.batch_norm:
                    h, stats = _batch_norm(h, layer, stats, train, sample_weight)
                preacts.append(h)
                h = act(h)
                if use_dropout and not self.dropout_first:
                    h = _dropout(h, dropout_rate, keys[i])
            new_state.append(stats)
        if capture:
            return h, tuple(new_state), preacts
        return h, tuple(new_state)


@dataclass(frozen=True)
class Hadamard:
    """The diagonal (Hadamard) network ``f(x) = x . (w_1 * ... * w_k) + b``.

    One weight per feature per layer, linear, no bias inside; ``b`` is an intercept outside the
    product (stored in the last layer's dict, never penalized by default). With weight decay
    ``(alpha / 2) sum_l ||w_l||^2`` on the weights, the balanced optimum is the bridge-penalized
    linear model with penalty ``(alpha k / 2) sum_j |beta_j|^(2/k)``; ``k = 2`` is the Lasso.
    """

    n_inputs: int
    depth: int = 2
    n_outputs: int = 1
    use_bias: bool = True
    init_scale: float = 0.1
    dtype: str = "float64"

    def __post_init__(self):
        if self.depth < 2:
            raise ValueError(f"a Hadamard network needs depth >= 2, got {self.depth}")

    @property
    def n_layers(self) -> int:
        return self.depth

    def init(self, key):
        dtype = jnp.dtype(self.dtype)
        keys = jax.random.split(key, self.depth)
        shape = (self.n_inputs, self.n_outputs)
        params = [{"w": self.init_scale * jax.random.normal(k, shape, dtype)} for k in keys]
        if self.use_bias:
            params[-1]["b"] = jnp.zeros((self.n_outputs,), dtype)
        return tuple(params), tuple({} for _ in params)

    @staticmethod
    def product(params):
        beta = params[0]["w"]
        for layer in params[1:]:
            beta = beta * layer["w"]
        return beta

    def apply(self, params, state, X, *, capture=False, **_):
        out = matmul(X, self.product(params))
        if "b" in params[-1]:
            out = out + params[-1]["b"]
        return (out, state, []) if capture else (out, state)


@dataclass(frozen=True)
class CNN:
    """A small convolutional network for square single-channel images given as flat rows.

    ``conv -> activation -> max-pool`` for each entry of ``channels`` (kernel ``kernel x kernel``,
    'SAME' padding, pooling window and stride ``pool``), then dense hidden layers and a linear
    output layer. Inputs are ``(n, side * side)`` rows, reshaped to NHWC images.
    """

    side: int = 28
    channels: tuple[int, ...] = (8,)
    kernel: int = 3
    pool: int = 2
    hidden: tuple[int, ...] = ()
    n_outputs: int = 10
    activation: str = "relu"
    init_scheme: str | Callable = "he"
    dtype: str = "float32"

    def __post_init__(self):
        check_choice("activation", self.activation, ACTIVATIONS)

    @property
    def n_inputs(self) -> int:
        return self.side * self.side

    @property
    def n_layers(self) -> int:
        return len(self.channels) + len(self.hidden) + 1

    def _flat_size(self) -> int:
        side = self.side
        for _ in self.channels:
            side = side // self.pool
        return side * side * (self.channels[-1] if self.channels else 1)

    def init(self, key):
        init = _initializer(self.init_scheme)
        dtype = jnp.dtype(self.dtype)
        keys = iter(jax.random.split(key, self.n_layers))
        params, c_in = [], 1
        for c_out in self.channels:
            w = init(next(keys), (self.kernel, self.kernel, c_in, c_out), dtype)
            params.append({"w": w, "b": jnp.zeros((c_out,), dtype)})
            c_in = c_out
        sizes = (self._flat_size(), *self.hidden, self.n_outputs)
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            params.append({"w": init(next(keys), (a, b), dtype), "b": jnp.zeros((b,), dtype)})
        return tuple(params), tuple({} for _ in params)

    def apply(self, params, state, X, *, capture=False, **_):
        act = ACTIVATIONS[self.activation]
        h = X.reshape(X.shape[0], self.side, self.side, 1)
        preacts = []
        n_conv = len(self.channels)
        for layer in params[:n_conv]:
            h = (
                jax.lax.conv_general_dilated(
                    h,
                    layer["w"],
                    (1, 1),
                    "SAME",
                    dimension_numbers=("NHWC", "HWIO", "NHWC"),
                    precision=PRECISION,
                )
                + layer["b"]
            )
            preacts.append(h.reshape(h.shape[0], -1))
            h = act(h)
            p = self.pool
            h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, p, p, 1), (1, p, p, 1), "VALID")
        h = h.reshape(h.shape[0], -1)
        for i, layer in enumerate(params[n_conv:]):
            h = matmul(h, layer["w"]) + layer["b"]
            if i < len(self.hidden):
                preacts.append(h)
                h = act(h)
        return (h, state, preacts) if capture else (h, state)
