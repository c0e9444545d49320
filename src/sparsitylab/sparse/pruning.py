"""Magnitude pruning, iterative prune-and-retrain with fixed masks, and quantization.

All functions take a fitted sparsitylab network estimator and return a modified *copy*
(``copy.deepcopy``); the original is left as it was, and the copy shares no array with it (its
weights, biases, batch-norm parameters and statistics, gates and ``masks_`` are its own).
"""

from __future__ import annotations

import copy
import dataclasses
from numbers import Integral, Real

import jax
import numpy as np
from sklearn.utils import check_random_state

from sparsitylab._errors import DivergenceError
from sparsitylab.engine.penalties import Mask, Sum
from sparsitylab.engine.trainer import Data, Member, stack_members
from sparsitylab.sparse._model import check_count, check_model, n_members, refresh
from sparsitylab.sparse._train import train_from
from sparsitylab.sparse.inference import attach


def _check_amount(amount):
    if isinstance(amount, bool) or not isinstance(amount, Real) or not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount must be a fraction of weights in [0, 1], got {amount!r}")
    return float(amount)


def magnitude_masks(params, amount, scope="global"):
    """Per layer 0/1 masks (leading member axis) that zero the ``amount`` fraction of weights of
    smallest magnitude, over all layers at once (``scope="global"``) or in each layer
    (``"layer"``). Exactly ``round(amount * n)`` weights are masked per member (per layer), ties
    broken by position, so ``amount=0.9`` leaves exactly 10% of the weights."""
    weights = [np.abs(np.asarray(layer["w"], np.float64)) for layer in params]
    m = weights[0].shape[0]
    masks = [np.ones(w.shape, np.float32) for w in weights]
    for i in range(m):
        if scope == "global":
            flat = np.concatenate([w[i].ravel() for w in weights])
            k = int(round(amount * flat.size))
            keep = np.ones(flat.size, bool)
            keep[np.argsort(flat, kind="stable")[:k]] = False
            start = 0
            for mask, w in zip(masks, weights, strict=True):
                size = w[i].size
                mask[i] = keep[start : start + size].reshape(w[i].shape)
                start += size
        else:
            for mask, w in zip(masks, weights, strict=True):
                flat = w[i].ravel()
                k = int(round(amount * flat.size))
                keep = np.ones(flat.size, bool)
                keep[np.argsort(flat, kind="stable")[:k]] = False
                mask[i] = keep.reshape(w[i].shape)
    return tuple(masks)


def _own(tree):
    """``tree`` (a tuple of dicts of arrays: parameters or state) with every array copied."""
    return tuple({k: np.array(v) for k, v in layer.items()} for layer in tree)


def _apply_masks(params, masks):
    """Copies of ``params`` with each layer's weights multiplied by its mask (new arrays
    throughout: the result shares no memory with ``params``)."""
    return tuple(
        {k: (np.asarray(v) * m.astype(np.asarray(v).dtype) if k == "w" else np.array(v))
         for k, v in layer.items()}
        for layer, m in zip(params, masks, strict=True)
    )  # fmt: skip


def prune(model, amount, scope="global", criterion="magnitude"):
    """A copy of ``model`` with the ``amount`` fraction of its weights set to exactly zero.

    Parameters
    ----------
    model : fitted sparsitylab network estimator (``SparseMLPRegressor``, ``SparseMLPClassifier``)
    amount : float in [0, 1]
        Fraction of the weights (``"w"`` leaves: connection weights, not biases) to remove.
    scope : {"global", "layer"}
        Rank all weights together, or remove ``amount`` of each layer.
    criterion : {"magnitude"}
        Remove the weights of smallest absolute value.

    The copy has ``masks_`` (one 0/1 array per layer, leading member axis), updated ``coefs_``
    and ``sparsity_``, and the CSR inference path when sparse enough
    (:mod:`sparsitylab.sparse.inference`).
    """
    check_model(model, "prune")
    amount = _check_amount(amount)
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    if criterion != "magnitude":
        raise ValueError(f"criterion must be 'magnitude', got {criterion!r}")
    masks = magnitude_masks(model.params_, amount, scope)
    old = getattr(model, "masks_", None)
    if old is not None:  # keep what an earlier pruning removed
        masks = tuple(m * o for m, o in zip(masks, old, strict=True))
    out = copy.deepcopy(model)
    out.params_ = _apply_masks(out.params_, masks)
    out.masks_ = masks
    refresh(out)
    attach(out)
    return out


def retrain(model, X, y, *, epochs=100, random_state=None):
    """A copy of ``model`` trained ``epochs`` more epochs from its current weights, with its own
    penalty (at ``alpha_`` when a path or cross-validation chose it) and optimizer, and the
    weights outside ``masks_`` held at exactly zero (a proximal projection onto the mask after
    every step, whatever the optimizer's moments do; L-BFGS, which takes no such steps, is
    refused for a pruned model). Every ensemble member trains on all rows of ``X, y``: with
    ``bootstrap=True`` the fit's resamples are not stored, so they are not reused.

    ``epochs``: an integer >= 1 (not a boolean). Training that diverges (a NaN/inf loss or
    weights, or a training objective that ends far above its start) raises
    :class:`sparsitylab.DivergenceError`, worded and advised as ``fit``'s."""
    check_model(model, "retrain")
    epochs = check_count("epochs", epochs, 1)
    X, Y = model._validate_more_rows(X, y, int(np.shape(model.params_[-1]["w"])[-1]))
    masks = getattr(model, "masks_", None)
    penalty, opt, rate = model._hyper(getattr(model, "alpha_", None))
    m = n_members(model.params_)
    held = [() if masks is None else (Mask(tuple(k[i] for k in masks)),) for i in range(m)]
    rng = check_random_state(random_state if random_state is not None else model.random_state)
    base = jax.random.PRNGKey(rng.randint(2**31 - 1))
    members = stack_members([
        Member(jax.random.fold_in(base, i), Sum((*held[i], *penalty.terms)), opt, rate,
               np.ones(len(X), np.float32))
        for i in range(m)
    ])  # fmt: skip
    if masks is None:
        masks = tuple(np.ones(np.shape(layer["w"]), np.float32) for layer in model.params_)
    config = dataclasses.replace(model._config(), max_epochs=int(epochs), early_stopping=False,
                                 record=())  # fmt: skip
    res = train_from(model.network_, config, Data(X, Y), members, model.params_, model.state_)
    model._raise_if_diverged(res, prefix="retrain: ")  # worded and advised as fit does
    out = copy.deepcopy(model)
    out.params_ = _apply_masks(res.params, masks)  # exact zeros, also for the float noise of 0*x
    out.state_ = _own(res.state)
    out.masks_ = tuple(np.array(k) for k in masks)  # not the input model's own arrays
    refresh(out)
    attach(out)
    return out


def prune_schedule(
    model, X, y, amounts=(0.5, 0.75, 0.9), *, epochs=100, scope="global", random_state=None
):
    """Iterative magnitude pruning: for each amount in turn (at least one, non-decreasing), prune
    to it and retrain ``epochs`` epochs with the masks fixed (:func:`retrain`). Returns the final
    copy; ``schedule_`` on it lists, per step,
    the amount, the fraction of non-zero weights and the training score before and after
    retraining. ``epochs`` as in :func:`retrain`; a retraining that diverges raises
    :class:`sparsitylab.DivergenceError` naming the step and the epoch."""
    check_model(model, "prune_schedule")
    epochs = check_count("epochs", epochs, 1)
    amounts = [_check_amount(a) for a in np.atleast_1d(amounts)]
    if not amounts:
        raise ValueError("amounts must list at least one fraction of weights to prune")
    if any(b < a for a, b in zip(amounts, amounts[1:], strict=False)):
        raise ValueError(f"amounts must be non-decreasing, got {amounts}")
    steps = []
    current = model
    for step, a in enumerate(amounts, 1):
        pruned = prune(current, a, scope=scope)
        try:
            current = retrain(pruned, X, y, epochs=epochs, random_state=random_state)
        except DivergenceError as e:
            raise DivergenceError(f"prune_schedule step {step} (amount {a:g}), {e}") from None
        w = np.concatenate([np.ravel(layer["w"]) for layer in current.params_])
        steps.append({"amount": a, "nonzero_fraction": float(np.mean(w != 0)),
                      "score_pruned": float(pruned.score(X, y)),
                      "score_retrained": float(current.score(X, y))})  # fmt: skip
    current.schedule_ = steps
    return current


def _test_targets(model, X_test, y_test):
    """``y_test`` checked against ``model``'s training data together with ``X_test`` (the
    estimator's own checks: columns and pandas names, as many rows as ``X_test``, finite values,
    the training outputs or classes), as ``(n, n_outputs)`` float64 targets for a regressor or
    the labels (one per row) for a classifier."""
    n_outputs = int(np.shape(model.params_[-1]["w"])[-1])
    try:
        Xv, Y = model._validate_more_rows(X_test, y_test, n_outputs, "X_test", "y_test")
    except ValueError as e:
        raise ValueError(f"quantize's test data (X_test, y_test): {e}") from e
    n = Xv.shape[0]
    if hasattr(model, "classes_"):  # Y: the class codes, (n, 1) (binary) or (n,)
        return model.classes_[np.asarray(Y).reshape(n, -1)[:, 0].astype(np.intp)]
    # the validated targets in float64 (Y is their float32 rounding)
    return np.asarray(y_test, dtype=np.float64).reshape(n, -1)


def _error(model, X, truth):
    """Misclassification rate (``1 - accuracy``) of a classifier; mean squared error of a
    regressor, averaged over the rows and the outputs."""
    pred = model.predict(X)
    if hasattr(model, "classes_"):
        return float(np.mean(np.asarray(pred) != truth))
    pred = np.asarray(pred, dtype=np.float64).reshape(truth.shape)
    return float(np.mean((pred - truth) ** 2))


def quantize(model, bits=8, X_test=None, y_test=None):
    """A copy of ``model`` with per-layer symmetric post-training quantization of its weights.

    Each layer's weights ``W`` (per ensemble member) are mapped to integers
    ``q = round(W / s)`` in ``[-(2^(bits-1) - 1), 2^(bits-1) - 1]`` with the scale
    ``s = max|W| / (2^(bits-1) - 1)``, and stored back as ``q * s`` (so the copy predicts what the
    integer network computes). Biases, batch-norm numbers and input gates stay float32.
    ``quantization_`` on the copy reports the size in bytes before (float32) and after (``bits``
    per weight plus one float32 scale per layer; the other numbers, batch norm's running means
    and variances included, at 4 bytes in both), the exact zeros before and after (every weight
    with ``|W| < s / 2`` becomes exactly zero), and with ``X_test, y_test`` the test error
    before and after and its change: for a regressor the mean squared error
    ``mean((predict(X_test) - y_test)^2)`` over the rows and the outputs (``y_test`` 1-D, a
    column, or one column per output), for a classifier the misclassification rate
    ``1 - accuracy``. ``X_test`` and ``y_test`` come together (one alone is refused) and are
    checked as ``fit`` checks its data: the training columns (and pandas names), as many rows in
    ``y_test`` as in ``X_test``, finite values, the training outputs or classes.
    """
    check_model(model, "quantize")
    if isinstance(bits, bool) or not isinstance(bits, Integral) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an integer from 2 to 16, got {bits!r}")
    if (X_test is None) != (y_test is None):
        given, missing = ("X_test", "y_test") if y_test is None else ("y_test", "X_test")
        raise ValueError(
            f"quantize got {given} without {missing}: give both for the test error, or neither"
        )
    truth = None if X_test is None else _test_targets(model, X_test, y_test)
    levels = 2 ** (int(bits) - 1) - 1
    out = copy.deepcopy(model)
    new_params = []
    zeros_before = zeros_after = n_weights = n_other = n_scales = 0
    for layer in out.params_:  # the copy's own arrays: nothing shared with the original
        w = np.asarray(layer["w"])
        m = w.shape[0]
        flat = w.reshape(m, -1).astype(np.float64)
        top = np.abs(flat).max(axis=1, keepdims=True)
        scale = np.where(top > 0, top / levels, 1.0)
        q = np.clip(np.round(flat / scale), -levels, levels)
        wq = (q * scale).reshape(w.shape).astype(w.dtype)
        new_params.append({**{k: np.array(v) for k, v in layer.items()}, "w": wq})
        zeros_before += int(np.sum(w == 0))
        zeros_after += int(np.sum(wq == 0))
        n_weights += w.size // m
        n_scales += 1
        n_other += sum(np.size(v) for k, v in layer.items() if k != "w") // m
    m = n_members(model.params_)
    n_other += sum(np.size(v) for layer in model.state_ for v in layer.values()) // m
    out.params_ = tuple(new_params)
    refresh(out)
    attach(out)
    report = {
        "bits": int(bits),
        "n_weights": n_weights,
        "bytes_float32": 4 * (n_weights + n_other),
        "bytes_quantized": int(np.ceil(n_weights * bits / 8)) + 4 * (n_other + n_scales),
        "zeros_before": zeros_before // m,
        "zeros_after": zeros_after // m,
    }
    if truth is not None:
        before, after = _error(model, X_test, truth), _error(out, X_test, truth)
        report.update(error_before=before, error_after=after, error_change=after - before)
    out.quantization_ = report
    return out
