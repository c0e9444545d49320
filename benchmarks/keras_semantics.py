"""Two checks of how the report's Keras code trains, behind ``bench_boston_keras_seeds``.

``python -m benchmarks.keras_semantics`` (needs ``tensorflow``, the ``bench`` extra) writes
``benchmarks/results/keras_semantics.json``:

1. ``epoch_order``: the first minibatch of three epochs of ``model.fit(..., shuffle=True)``,
   recorded by a model whose ``train_step`` keeps its inputs, with and without
   ``keras.utils.set_random_seed``. Seeded, Keras' array data adapter visits the same order in
   every epoch; unseeded, each epoch is shuffled afresh (the report did not seed).
2. ``one_epoch_update``: the report's wide model (13-128-1, ReLU, ``l2(1e-3)``, Adam, MSE,
   minibatches of 32, ``validation_split=0.2``) trained one epoch without shuffling, against a
   numpy replica of the same update (Keras' Adam: ``alpha_t = lr sqrt(1 - b2^t) / (1 - b1^t)``,
   ``eps`` added to ``sqrt(v)``) from the same initial weights: the largest weight difference.
   This is the update rule sparsitylab's engine trains the study's networks with.
3. ``val_loss``: the same model trained one epoch; Keras' ``val_loss`` (what the report's
   ``EarlyStopping`` monitors) against the validation MSE of its predictions and that MSE plus
   the ``l2(1e-3)`` penalty: Keras' ``val_loss`` includes the regularization loss, so the
   study's early stopping monitors the same sum (``TrainConfig.monitor_penalty``).
"""

from __future__ import annotations

import os

import numpy as np

from benchmarks._common import write_result


def _first_batches(seeded: bool, epochs: int = 3) -> list[list[int]]:
    import keras
    import tensorflow as tf

    if seeded:
        keras.utils.set_random_seed(0)
    seen: list[list[int]] = []

    class Recorder(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            x, _ = data
            seen.append(x.numpy()[:, 0].astype(int).tolist())
            return {"loss": tf.constant(0.0)}

    X = np.arange(40, dtype=np.float32)[:, None]
    model = Recorder()
    model.compile(optimizer="adam", loss="mse", run_eagerly=True)
    model.fit(X, np.zeros(40, np.float32), epochs=epochs, batch_size=8, shuffle=True, verbose=0)
    per_epoch = len(seen) // epochs
    return [seen[e * per_epoch] for e in range(epochs)]


def _wide_one_epoch():
    """The report's wide model, seeded, trained one epoch without shuffling: the training rows,
    targets, initial weights, trained model and Keras' history."""
    import keras
    from keras.layers import Dense, Input
    from keras.models import Sequential
    from keras.regularizers import l2

    from sparsitylab.studies import boston

    Xtr, _, ytr, _ = boston.split(boston.CONFIG)
    keras.utils.set_random_seed(0)
    model = Sequential([Input((13,)), Dense(128, activation="relu", kernel_regularizer=l2(1e-3)),
                        Dense(1)])  # fmt: skip
    model.compile(optimizer="adam", loss="mse")
    initial = [w.astype(np.float32) for w in model.get_weights()]
    history = model.fit(Xtr, ytr, epochs=1, validation_split=0.2, shuffle=False, verbose=0)
    return Xtr, ytr, initial, model, history


def _one_epoch_update(run) -> dict:
    Xtr, ytr, params, model, _ = run
    params = list(params)
    trained = model.get_weights()

    cut = int(len(Xtr) * 0.8)
    X, Y = Xtr[:cut].astype(np.float32), ytr[:cut].astype(np.float32)
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t, start in enumerate(range(0, cut, 32), start=1):
        x, y = X[start : start + 32], Y[start : start + 32]
        W1, b1, W2, b2 = params
        h = x @ W1 + b1
        a = np.maximum(h, 0)
        d = 2 * ((a @ W2 + b2)[:, 0] - y) / len(y)  # d MSE / d output
        dh = (d[:, None] @ W2.T) * (h > 0)
        grads = [x.T @ dh + 2e-3 * W1, dh.sum(0), a.T @ d[:, None], d.sum(keepdims=True)]
        alpha = 1e-3 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        for i, g in enumerate(grads):
            m[i] += (g - m[i]) * 0.1
            v[i] += (g * g - v[i]) * 0.001
            params[i] = params[i] - alpha * m[i] / (np.sqrt(v[i]) + 1e-7)
    diffs = [float(np.abs(p - k).max()) for p, k in zip(params, trained, strict=True)]
    scale = max(float(np.abs(k).max()) for k in trained)
    return {"max_abs_weight_difference": max(diffs), "largest_weight": scale,
            "steps": t}  # fmt: skip


def _val_loss(run) -> dict:
    Xtr, ytr, _, model, history = run
    cut = int(len(Xtr) * 0.8)
    pred = model.predict(Xtr[cut:], verbose=0)[:, 0]
    mse = float(np.mean((pred - ytr[cut:]) ** 2))
    penalty = 1e-3 * float(np.sum(np.square(model.get_weights()[0])))
    val_loss = float(history.history["val_loss"][0])
    off_mse, off_sum = abs(val_loss - mse), abs(val_loss - (mse + penalty))
    return {
        "keras_val_loss": val_loss, "val_mse": mse, "l2_penalty": penalty,
        "abs_difference_to_val_mse": off_mse, "abs_difference_to_val_mse_plus_penalty": off_sum,
        "val_loss_is_mse_plus_penalty": bool(off_sum < 0.01 * off_mse),
    }  # fmt: skip


def main():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    unseeded = _first_batches(False)  # first: a global seed, once set, stays set in the process
    seeded = _first_batches(True)
    wide = _wide_one_epoch()
    payload = {
        "epoch_order": {
            "seeded_first_batches": seeded,
            "seeded_same_order_every_epoch": all(b == seeded[0] for b in seeded),
            "unseeded_first_batches": unseeded,
            "unseeded_same_order_every_epoch": all(b == unseeded[0] for b in unseeded),
        },
        "one_epoch_update": _one_epoch_update(wide),
        "val_loss": _val_loss(wide),
    }
    path = write_result("keras_semantics", payload)
    print(payload, "->", path)


if __name__ == "__main__":
    main()
