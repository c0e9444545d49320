"""``SparseMLPRegressorCV`` and ``SparseMLPClassifierCV``: alpha chosen by K-fold cross-validation
along a feature-selection path, then a refit.

``fit`` runs the (by default monotone, warm-started) path of :mod:`sparsitylab.estimators.path`
with the ``cv`` folds as members of one program (fold ``k`` trains on the rows of weight 1 in its
training mask and is scored on its held-out rows; the data are never copied), picks the alpha of
least mean validation loss (``selection="min"``) or the sparsest one within one standard error of
it (``"1se"``), and keeps that point of the same path refitted on all rows (trained beside the
folds, as one more member of the same programs). Each path point is judged after a *relaxed*
refit (``relax_epochs`` of training with no penalty and the dropped inputs held at zero; all
points and folds in one batch), so the cross-validation compares selected feature sets rather
than shrunken weights; the chosen point of the all-rows path gets the same relaxed refit.

``refit_dense=True`` then trains an unpenalized network on the selected columns only
(``dense_estimator_``) and predicts with it: "fit again on what was found".
"""

from __future__ import annotations

import time
from numbers import Integral

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from sparsitylab._checks import to_float32
from sparsitylab.estimators.mlp import SparseMLPClassifier, SparseMLPRegressor
from sparsitylab.estimators.path import (
    FeaturePath,
    _prepare,
    check_alphas,
    check_path,
    choose,
    cv_folds,
    default_alphas,
    default_warm_epochs,
    feature_names,
    relax,
    run_path,
    selected_mask,
)


class _PathCV:
    _cv_constraints = {
        "alphas": ["array-like", None],
        "n_alphas": [Interval(Integral, 2, None, closed="left")],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "warm_start": ["boolean"],
        "monotone": ["boolean"],
        "warm_epochs": [Interval(Integral, 1, None, closed="left"), None],
        "relax_epochs": [Interval(Integral, 0, None, closed="left"), None],
        "selection": [StrOptions({"min", "1se"})],
        "refit_dense": ["boolean"],
    }

    def __init__(
        self, hidden_layer_sizes=(32,), activation="relu", penalty="group_input", alpha=1e-3,
        l1_ratio=0.5, weight_decay=0.0, max_norm=None, dropout=0.0, batch_norm=False,
        optimizer="sgd", learning_rate=0.1, batch_size=None, max_epochs=800,
        early_stopping=False, validation_fraction=0.2, patience=10, min_delta=0.0,
        n_estimators=1, bootstrap=False, record=(), random_state=None, verbose=0,
        alphas=None, n_alphas=12, cv=5, warm_start=True, monotone=True, warm_epochs=None,
        relax_epochs=None, selection="min", refit_dense=False,
    ):  # fmt: skip
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, penalty=penalty,
            alpha=alpha, l1_ratio=l1_ratio, weight_decay=weight_decay, max_norm=max_norm,
            dropout=dropout, batch_norm=batch_norm, optimizer=optimizer,
            learning_rate=learning_rate, batch_size=batch_size, max_epochs=max_epochs,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            patience=patience, min_delta=min_delta, n_estimators=n_estimators,
            bootstrap=bootstrap, record=record, random_state=random_state, verbose=verbose,
        )  # fmt: skip
        self.alphas = alphas
        self.n_alphas = n_alphas
        self.cv = cv
        self.warm_start = warm_start
        self.monotone = monotone
        self.warm_epochs = warm_epochs
        self.relax_epochs = relax_epochs
        self.selection = selection
        self.refit_dense = refit_dense

    def _epochs(self, alphas):
        warm = self.warm_epochs or default_warm_epochs(int(self.max_epochs), alphas)
        relax = (
            self.relax_epochs
            if self.relax_epochs is not None
            else max(1, int(self.max_epochs) // 4)
        )
        return warm, relax

    def fit(self, X, y):
        """Cross-validate alpha along the path, then refit on every row (see the module doc)."""
        if self.penalty is None:
            raise ValueError(
                "cross-validating alpha needs a penalty; use penalty='group_input' "
                "or 'hadamard_input' for feature selection"
            )
        if self.early_stopping:
            raise ValueError(
                "the CV estimators judge every alpha on its held-out fold after a fixed number "
                "of epochs (max_epochs, warm_epochs, relax_epochs); early_stopping=True is not "
                "supported here. Set early_stopping=False"
            )
        if self.n_estimators != 1 or self.bootstrap:
            raise ValueError(
                "the CV estimators train one network per fold and alpha; n_estimators > 1 and "
                "bootstrap=True are not supported here (use SparseMLPRegressor/Classifier with "
                "alpha=alpha_ for an ensemble at the chosen alpha)"
            )
        X, y, Y, n_outputs = _prepare(self, X, y)
        rng = check_random_state(self.random_state)
        n, p = X.shape
        if n < self.cv:
            raise ValueError(f"cv={self.cv} folds need at least {self.cv} samples, got {n}")
        from sparsitylab.engine.trainer import Data

        data = Data(X, Y)
        train_w, val_w = cv_folds(self, Y, self.cv, rng)
        keys = self._member_keys(rng, self.cv)
        network = self._network(p, n_outputs)
        config = self._config()
        ones = np.ones(n, np.float32)
        if self.alphas is None:
            alphas = default_alphas(network, config.loss, X, Y, ones, keys[0], int(self.n_alphas))
        else:
            alphas = check_alphas(self.alphas)
        warm, relax_epochs = self._epochs(alphas)
        # the folds and the refit on every row run along the grid together (features leave as
        # alpha grows); only the chosen point of the refit needs its relaxed refit
        cv_run = run_path(
            self, network, config, data, keys, train_w, val_w, alphas, self.warm_start, warm,
            relax_epochs, self.monotone, every_row=True,
        )  # fmt: skip
        check_path(self, cv_run.val_loss)
        best = choose(cv_run.val_loss, self.selection)
        start = time.perf_counter()
        chosen = cv_run.every_row[best]
        if relax_epochs:
            refit = keys[:1], [ones], [np.zeros(n, np.float32)]
            chosen = relax(self, network, config, data, *refit, [chosen], relax_epochs)[0]
        seconds = cv_run.seconds + time.perf_counter() - start
        self._store(network, chosen, slice(0, 1))
        self.alphas_ = alphas
        self.alpha_ = float(alphas[best])
        self.mse_path_ = cv_run.val_loss
        self.path_ = FeaturePath(
            alphas=alphas, val_loss=cv_run.val_loss.mean(axis=1), val_loss_folds=cv_run.val_loss,
            selected=np.stack([selected_mask(r.params) for r in cv_run.every_row]),
            feature_names=feature_names(self, p), best_index=best, mode=cv_run.mode,
            seconds=seconds,
        )  # fmt: skip
        self.feature_importances_ = self.path_.leave_alpha
        self.__dict__.pop("dense_estimator_", None)
        if self.refit_dense:
            cols = self.selected_features_
            if len(cols) == 0:
                raise ValueError(
                    "no feature was selected at the chosen alpha; nothing to refit "
                    "densely (try smaller alphas)"
                )
            is_clf = isinstance(self, SparseMLPClassifier)
            base = SparseMLPClassifier if is_clf else SparseMLPRegressor
            params = {k: v for k, v in self.get_params().items() if k in base().get_params()}
            dense = clone(base(**params)).set_params(penalty=None)
            self.dense_estimator_ = dense.fit(X[:, cols], y)
        return self

    def _forward(self, X):
        dense = getattr(self, "dense_estimator_", None)
        if dense is None:
            return super()._forward(X)
        check_is_fitted(self, "params_")
        X = to_float32(validate_data(self, X, reset=False, dtype=np.float64))
        return dense._forward(X[:, self.selected_features_])


class SparseMLPRegressorCV(_PathCV, SparseMLPRegressor):
    """:class:`SparseMLPRegressor` with alpha chosen by K-fold cross-validation along a
    feature-selection path (default ``penalty="group_input"``), then refitted on all rows.

    Extra parameters: ``alphas`` (grid; default ``n_alphas`` values, geometric over three
    decades), ``cv`` (folds), ``warm_start`` (walk up the grid from the previous fit; else every
    (alpha, fold) is one batched member), ``monotone`` (warm paths: a dropped input stays out at
    every larger alpha, so the selected sets are nested), ``warm_epochs`` (default ``max_epochs``
    per decade of the grid), ``relax_epochs`` (default ``max_epochs // 4``), ``selection``
    ("min" or "1se"), ``refit_dense`` (an unpenalized network on the selected columns).
    ``alpha`` is not used (the grid is ``alphas``); ``early_stopping``, ``n_estimators > 1`` and
    ``bootstrap`` are refused. Path points that diverge on some fold are never chosen (a
    ``RuntimeWarning`` counts them; all of them: :class:`~sparsitylab.DivergenceError`).
    Defaults favour selection: full-batch proximal SGD (``learning_rate=0.1``), whose proximal
    step is the exact group-lasso prox; with Adam the step sizes are rescaled per weight and rows
    reach zero only for much larger alphas.
    The defaults assume standardized inputs and a target of unit scale: wrap the estimator in
    ``sklearn.compose.TransformedTargetRegressor(transformer=StandardScaler())`` for a target
    in other units (at ``learning_rate=0.1`` a target in the hundreds diverges).

    Attributes (beside the estimator's): ``alpha_``, ``alphas_``, ``mse_path_`` (validation loss,
    ``(n_alphas, cv)``), ``path_`` (:class:`~sparsitylab.estimators.path.FeaturePath`),
    ``selected_features_``, ``selected_feature_names_``, ``feature_importances_`` (alpha at which
    each feature leaves the model), ``dense_estimator_`` with ``refit_dense``.
    """

    _parameter_constraints = {
        **SparseMLPRegressor._parameter_constraints,
        **_PathCV._cv_constraints,
    }


class SparseMLPClassifierCV(_PathCV, SparseMLPClassifier):
    """:class:`SparseMLPClassifier` with alpha chosen by stratified K-fold cross-validation along a
    feature-selection path; see :class:`SparseMLPRegressorCV`."""

    _parameter_constraints = {
        **SparseMLPClassifier._parameter_constraints,
        **_PathCV._cv_constraints,
    }
