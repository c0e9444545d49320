"""A sparse inference path: the network's forward pass with CSR weight matrices (scipy).

A layer's ``h @ W`` becomes ``(W^T @ h^T)^T`` with ``W^T`` stored in CSR, which costs one
multiply-add per non-zero weight instead of one per weight. For a single row (or a few) this is a
sparse matrix-vector product whose memory traffic shrinks with the density, so a 90%-pruned network
is several times faster than the dense product; for large batches dense BLAS (blocked,
vectorized, multithreaded) wins back. :func:`sparsitylab.sparse.prune` therefore attaches this
path to the pruned estimator when the weights are at least ``SPARSE_THRESHOLD`` zero, and the
estimator uses it for batches of at most ``MAX_BATCH`` rows; both numbers come from
``benchmarks/bench_sparse_inference.py`` (see ``docs/sparse-networks.md``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from sparsitylab.engine.networks import LEAKY_SLOPE
from sparsitylab.sparse._model import check_count, unwrap

SPARSE_THRESHOLD = 0.5  # from 50% zeros CSR was >= 3x faster at batch 1 on every machine timed
MAX_BATCH = 32  # CSR 2.7-3x faster at 32 rows; at 256 0.99x on one machine: larger stay dense


# module-level functions, not lambdas: a model holding a SparseForward must pickle
def _relu(z):
    return np.maximum(z, 0.0)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _linear(z):
    return z


def _leaky_relu(z):
    return np.where(z > 0, z, LEAKY_SLOPE * z)


_ACT = {
    "relu": _relu,
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "linear": _linear,
    "leaky_relu": _leaky_relu,
}
BN_EPS = 1e-5


class SparseForward:
    """The evaluation-mode forward pass of every member of a fitted MLP with CSR weights.

    ``SparseForward(model)(X) -> (n_members, n, n_outputs)``, the same as the estimator's
    ``_forward``. ``dense=True`` keeps dense numpy matrices instead (the reference it is timed
    against). ``accepts(n)`` says whether a batch of ``n`` rows (at most ``max_batch``, an
    integer >= 0) should use it.
    """

    def __init__(self, model, *, dense: bool = False, max_batch: int = MAX_BATCH):
        columns, net = unwrap(model.network_)
        if not hasattr(net, "hidden") or not hasattr(net, "activation"):
            raise ValueError(f"the sparse path handles MLP networks, not {type(net).__name__}")
        self.columns = columns
        self.act = _ACT[net.activation]
        self.max_batch = check_count("max_batch", max_batch, 0)
        self.dense = dense
        params, state = model.params_, model.state_
        m = np.shape(params[0]["w"])[0]
        self.members = []
        for i in range(m):
            layers = []
            for li, layer in enumerate(params):
                w = np.asarray(layer["w"][i], np.float32)
                if li == 0 and "gate" in layer:  # fold the input gate into the first layer
                    w = np.asarray(layer["gate"][i], np.float32)[:, None] * w
                wt = np.ascontiguousarray(w.T) if dense else sp.csr_matrix(w.T)
                entry = {"wt": wt, "b": None if "b" not in layer else np.asarray(layer["b"][i])}
                if "scale" in layer:
                    st = state[li]
                    inv = 1.0 / np.sqrt(np.asarray(st["var"][i]) + BN_EPS)
                    entry["bn"] = (np.asarray(st["mean"][i]), inv * np.asarray(layer["scale"][i]),
                                   np.asarray(layer["shift"][i]))  # fmt: skip
                layers.append(entry)
            self.members.append(layers)

    def accepts(self, n: int) -> bool:
        return n <= self.max_batch

    def _one(self, layers, X):
        h = X.T  # (features, n): the CSR product runs over columns of h
        last = len(layers) - 1
        for li, layer in enumerate(layers):
            h = layer["wt"] @ h
            if layer["b"] is not None:
                h = h + layer["b"][:, None]
            if li < last:
                if "bn" in layer:
                    mean, mult, shift = layer["bn"]
                    h = (h - mean[:, None]) * mult[:, None] + shift[:, None]
                h = self.act(h)
        return np.asarray(h).T

    def __call__(self, X):
        X = np.asarray(X, np.float32)
        if self.columns is not None:
            X = X[:, self.columns]
        X = np.ascontiguousarray(X)
        return np.stack([self._one(layers, X) for layers in self.members])


def attach(model, threshold: float = SPARSE_THRESHOLD) -> None:
    """Give ``model`` the sparse path when its weights are at least ``threshold`` zero (and an MLP),
    remove it otherwise."""
    model.__dict__.pop("sparse_inference_", None)
    weights = np.concatenate([np.ravel(layer["w"]) for layer in model.params_])
    _, net = unwrap(model.network_)
    if hasattr(net, "hidden") and np.mean(weights == 0) >= threshold:
        model.sparse_inference_ = SparseForward(model)
