"""``sweep``: train every combination of a parameter grid, batched into few compiled programs.

Configurations that share an architecture and static settings (layer sizes, activation, penalty
kind, optimizer, batch size, epochs...) form one *group*; the numbers that differ inside a group
(alpha, l1_ratio, weight decay, learning rate, dropout rate, random_state) and the folds become
members of one ``vmap``-ed training program. Each group compiles once, whatever its size.
"""

from __future__ import annotations

import copy
import warnings

import jax
import numpy as np
import pandas as pd
from sklearn.base import clone, is_classifier
from sklearn.model_selection import ParameterGrid, check_cv
from sklearn.utils import check_random_state

from sparsitylab._errors import DivergenceError
from sparsitylab.engine.trainer import Data, Member, stack_members, train


def _prepare(estimator, params, X, y):
    est = clone(estimator).set_params(**params)
    est._check_params()
    Xv, yv = est._validate_fit(X, y)
    Y, n_outputs = est._encode_targets(yv, fitted=False)
    return est, Xv, Y, n_outputs


def sweep(estimator, X, y, param_grid, cv=None, validation_data=None):
    """Fit ``estimator`` for every combination of ``param_grid``; one row per configuration.

    Parameters
    ----------
    estimator : SparseMLPRegressor or SparseMLPClassifier
        The template; each configuration is ``clone(estimator).set_params(**combination)``.
    param_grid : dict or list of dicts
        As for scikit-learn's ``GridSearchCV``.
    cv : None, int or a scikit-learn splitter
        With folds, every configuration is trained on each fold's training rows and scored on
        its held-out rows (folds are sample weights, so they share one compiled program).
    validation_data : (X_val, y_val), optional
        Without ``cv``: data to score (and, with ``early_stopping``, to monitor).

    With ``early_stopping``, a sweep monitors ``validation_data`` when given, else, as ``fit``
    does, a random ``validation_fraction`` of each fold's training rows (never the rows
    ``val_score`` is computed on). With full-batch training (``batch_size=None``) and an int or
    None ``random_state``, its rows equal separate fits (``fit(X, y, validation_data)``, or
    ``cross_validate`` over the same folds) up to rounding; minibatches are drawn from all the
    rows at once, so with ``batch_size`` set a row's batches differ from a separate fit's.

    Returns
    -------
    pandas.DataFrame
        Parameters, ``train_score`` and ``val_score`` (``estimator.score``: R^2 or accuracy;
        means over folds, with ``std_val_score`` under cv), ``n_epochs`` (mean over folds) and
        ``diverged``. A configuration whose training diverged on any fold has ``diverged=True``
        and NaN scores and ``n_epochs`` (as ``cross_validate`` with ``error_score=np.nan`` gives
        that fold NaN, and so the mean), with a warning per diverged fit.
        ``.attrs["estimators"]`` holds the fitted estimators: one per row, or a list of one per
        fold under ``cv`` (``None`` for a fold that diverged).
    """
    from sparsitylab.estimators.mlp import SparseMLPClassifier, SparseMLPRegressor
    from sparsitylab.estimators.mlp_cv import _PathCV

    if not isinstance(estimator, SparseMLPRegressor | SparseMLPClassifier) or isinstance(
        estimator, _PathCV
    ):
        raise TypeError(
            "sweep trains SparseMLPRegressor or SparseMLPClassifier configurations, got "
            f"{type(estimator).__name__}; for other estimators use scikit-learn's GridSearchCV"
        )
    if cv is not None and validation_data is not None:
        raise ValueError("give either cv or validation_data, not both")
    combos = list(ParameterGrid(param_grid))
    if not combos:
        raise ValueError("param_grid is empty")
    template, Xa, Ya, n_outputs = _prepare(estimator, combos[0], X, y)
    y_raw = np.asarray(y)
    n = Xa.shape[0]

    if cv is not None:
        splitter = check_cv(cv, y_raw, classifier=is_classifier(estimator))
        folds = list(splitter.split(Xa, y_raw))
        data = Data(Xa, Ya)
    else:
        folds = [(np.arange(n), None)]
        if validation_data is not None:
            data = Data(Xa, Ya, *template._validate_validation_data(validation_data, n_outputs))
        else:
            data = Data(Xa, Ya)

    groups: dict = {}  # group key -> (network, config, [(row, fold, member, Member)])
    estimators = []
    for row, params in enumerate(combos):
        est, _, _, n_outputs = _prepare(estimator, params, X, y)
        estimators.append(est)
        network, config = est._network(Xa.shape[1], n_outputs), est._config()
        penalty, opt, rate = est._hyper()
        key = (network, config, jax.tree.structure((penalty, opt)))
        entries = groups.setdefault(key, (network, config, []))[2]
        for f, (tr, va) in enumerate(folds):
            # each fold draws what a fresh fit on its rows draws (cross_validate clones, so a
            # RandomState is copied, not continued from fold to fold)
            rng = check_random_state(copy.deepcopy(est.random_state))
            inner, held, counts = est._draw_rows(
                rng, Ya[tr], hold_out=est.early_stopping and validation_data is None
            )
            if held is not None:  # early stopping watches these, never the scored rows
                vw = _on_rows(n, tr[held], 1.0)
            elif va is not None:  # recorded as history_["val_loss"]
                vw = _on_rows(n, va, 1.0)
            else:
                vw = None if data.X_val is None else np.ones(data.X_val.shape[0], np.float32)
            weights = [_on_rows(n, tr[inner], c) for c in counts]
            keys = est._member_keys(rng, est.n_estimators)
            for m, (k, tw) in enumerate(zip(keys, weights, strict=True)):
                entries.append((row, f, m, Member(k, penalty, opt, rate, tw, vw)))

    fitted = [[None] * len(folds) for _ in combos]
    diverged = np.zeros(len(combos), bool)
    for network, config, entries in groups.values():
        result = train(network, config, data, stack_members([e[3] for e in entries]))
        index: dict = {}
        for i, (row, f, _, _) in enumerate(entries):
            index.setdefault((row, f), []).append(i)
        for (row, f), members in index.items():
            est = clone(estimators[row])
            est._validate_fit(X, y)
            est._encode_targets(np.asarray(y), fitted=False)
            try:
                fitted[row][f] = est._store(network, result, np.asarray(members))
            except DivergenceError as err:
                diverged[row] = True
                warnings.warn(f"configuration {combos[row]} diverged: {err}", stacklevel=2)

    records = []
    for row, params in enumerate(combos):
        rec = dict(params)
        train_scores, val_scores, epochs = [], [], []
        for (tr, va), est in zip(folds, fitted[row], strict=True):
            if est is None:  # diverged: NaN, as cross_validate's error_score=np.nan
                train_scores.append(np.nan)
                val_scores.append(np.nan)
                epochs.append(np.nan)
                continue
            train_scores.append(est.score(_rows(X, tr), y_raw[tr]))
            epochs.append(est.n_iter_)
            if va is not None:
                val_scores.append(est.score(_rows(X, va), y_raw[va]))
            elif validation_data is not None:
                val_scores.append(est.score(*validation_data))
        rec["train_score"] = float(np.mean(train_scores))
        if cv is not None or validation_data is not None:
            rec["val_score"] = float(np.mean(val_scores))
        if cv is not None:
            rec["std_val_score"] = float(np.std(val_scores))
        rec["n_epochs"] = float(np.mean(epochs))
        rec["diverged"] = bool(diverged[row])
        records.append(rec)
    frame = pd.DataFrame.from_records(records)
    frame.attrs["estimators"] = [f if cv is not None else f[0] for f in fitted]
    return frame


def _on_rows(n, rows, values):
    """A weight vector over ``n`` rows: ``values`` on ``rows``, 0 elsewhere."""
    w = np.zeros(n, np.float32)
    w[rows] = values
    return w


def _rows(X, idx):
    return X.iloc[idx] if hasattr(X, "iloc") else np.asarray(X)[idx]
