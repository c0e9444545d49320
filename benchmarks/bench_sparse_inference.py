"""Inference time of a 90%-pruned 784-512-512-10 network on CPU: dense paths vs the CSR path.

The network is a ``SparseMLPClassifier`` trained briefly on MNIST-5k, pruned to 90% zeros
(``scope="layer"``). Timed, per batch size (1, 8, 32, 256): the estimator's compiled dense JAX
forward pass, a dense numpy forward pass, and the scipy CSR forward pass
(:class:`sparsitylab.sparse.SparseForward`), and the pruned estimator as ``prune`` returns it
(``estimator_s``: its CSR path up to ``MAX_BATCH`` rows, the dense one above, as
``estimator_path`` says); the median of repeated calls. Bars: CSR at least 3x faster than the
dense path at batch size 1, and not slower at 256.
Also timed: the CSR path against density (sparsity 50..95%) at batch 1, which sets
``SPARSE_THRESHOLD``.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks._common import write_result


def _median_time(fn, X, min_time=0.3, max_reps=2000):
    fn(X)  # warm-up (and compilation)
    times = []
    start = time.perf_counter()
    while (time.perf_counter() - start < min_time or len(times) < 5) and len(times) < max_reps:
        t = time.perf_counter()
        fn(X)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(quick: bool = False) -> dict:
    from sparsitylab import SparseMLPClassifier
    from sparsitylab.datasets import load_mnist5k
    from sparsitylab.sparse import SparseForward, prune

    X, y = load_mnist5k(return_X_y=True)
    X = np.asarray(X, np.float32)
    model = SparseMLPClassifier((512, 512), max_epochs=3 if quick else 10, learning_rate=1e-3,
                                batch_size=256, random_state=0).fit(X, y)  # fmt: skip
    attached = prune(model, 0.9, scope="layer")  # as a user gets it: the CSR path attached
    pruned = prune(model, 0.9, scope="layer")
    pruned.__dict__.pop("sparse_inference_", None)  # time the paths explicitly
    csr = SparseForward(pruned)
    dense_np = SparseForward(pruned, dense=True)
    rng = np.random.default_rng(0)
    rows = {}
    for batch in (1, 8, 32, 256):
        Xb = X[rng.choice(len(X), batch, replace=False)]
        np.testing.assert_allclose(csr(Xb), pruned._forward(Xb), atol=1e-4)
        rows[batch] = {
            "dense_jax_s": _median_time(pruned._forward, Xb),
            "dense_numpy_s": _median_time(dense_np, Xb),
            "csr_s": _median_time(csr, Xb),
            "estimator_s": _median_time(attached._forward, Xb),
            "estimator_path": "csr" if attached.sparse_inference_.accepts(batch) else "dense",
        }
        r = rows[batch]
        r["speedup_vs_jax"] = r["dense_jax_s"] / r["csr_s"]
        r["speedup_vs_numpy"] = r["dense_numpy_s"] / r["csr_s"]
        print(batch, {k: round(v, 6) if isinstance(v, float) else v for k, v in r.items()})
    density = {}
    x1 = X[:1]
    for amount in (0.5, 0.7, 0.8, 0.9, 0.95):
        p = prune(model, amount, scope="layer")
        p.__dict__.pop("sparse_inference_", None)
        density[amount] = {
            "dense_jax_s": _median_time(p._forward, x1),
            "csr_s": _median_time(SparseForward(p), x1),
        }
        density[amount]["speedup"] = density[amount]["dense_jax_s"] / density[amount]["csr_s"]
    payload = {
        "network": "784-512-512-10, SparseMLPClassifier on MNIST-5k, pruned 90% per layer",
        "quick": quick,
        "by_batch": {str(k): v for k, v in rows.items()},
        "batch1_by_sparsity": {str(k): v for k, v in density.items()},
        "bars": {
            "csr_3x_faster_at_batch_1": rows[1]["speedup_vs_jax"] >= 3.0,
            "csr_not_slower_at_batch_256": rows[256]["csr_s"] <= rows[256]["dense_jax_s"],
        },
    }
    write_result("bench_sparse_inference", payload)
    return payload


if __name__ == "__main__":
    import sys

    main(quick="--quick" in sys.argv)
