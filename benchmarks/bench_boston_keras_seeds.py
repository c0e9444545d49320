"""The report's Keras networks over seeds, beside sparsitylab's (the Boston study's spread).

``bench_boston_study`` compares sparsitylab's mean over 10 seeds with one Keras run; one run is
one draw. This trains the report's 2-layer and wide Keras models (L2 1e-3, Adam, batches of 32,
early stopping patience 10 on the last 20% of the training rows, 100 epochs) with 10 seeds each,
and sparsitylab's same networks with 10 seeds, and reports mean and standard deviation of the test
MSE of both. Needs ``tensorflow`` (the ``bench`` extra).
"""

from __future__ import annotations

import os

import numpy as np

from benchmarks._common import write_result

SEEDS = 10


def _keras(names):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from sklearn.metrics import mean_squared_error
    from tensorflow.keras.callbacks import EarlyStopping
    from tensorflow.keras.layers import Dense, Input
    from tensorflow.keras.models import Sequential
    from tensorflow.keras.regularizers import l2

    from sparsitylab.studies import boston

    Xtr, Xte, ytr, yte = boston.split(boston.CONFIG)
    out = {}
    for name, _, hidden, use_l2, _ in boston.NETWORKS:
        if name not in names:
            continue
        mses = []
        for seed in range(SEEDS):
            tf.keras.utils.set_random_seed(seed)
            reg = l2(0.001) if use_l2 else None
            layers = [Dense(h, activation="relu", kernel_regularizer=reg) for h in hidden]
            model = Sequential([Input((Xtr.shape[1],)), *layers, Dense(1)])
            model.compile(optimizer="adam", loss="mse")
            stop = EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
            model.fit(Xtr, ytr, epochs=100, validation_split=0.2, callbacks=[stop], verbose=0)
            mses.append(float(mean_squared_error(yte, model.predict(Xte, verbose=0))))
        out[name] = {"test_mse": mses, "mean": float(np.mean(mses)), "std": float(np.std(mses))}
    return out


def main():
    from sparsitylab.studies import boston

    names = ("two_layer", "wide")
    ours = {}
    for name, _, hidden, use_l2, _ in boston.NETWORKS:
        if name in names:
            mse = boston.network_task(boston.CONFIG, name, hidden, use_l2, SEEDS)["test_mse"]
            ours[name] = {
                "test_mse": [float(v) for v in mse],
                "mean": float(np.mean(mse)),
                "std": float(np.std(mse)),
            }
    try:
        keras = _keras(names)
    except ImportError as exc:
        keras = {"available": False, "reason": str(exc)}
    write_result("bench_boston_keras_seeds", {"seeds": SEEDS, "sparsitylab": ours, "keras": keras})
    for name in names:
        k = keras.get(name, {})
        print(
            f"{name}: sparsitylab {ours[name]['mean']:.2f} +- {ours[name]['std']:.2f}, "
            f"keras {k.get('mean', float('nan')):.2f} +- {k.get('std', float('nan')):.2f}"
        )


if __name__ == "__main__":
    main()
