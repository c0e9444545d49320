"""``SparseMLPRegressorCV`` and ``SparseMLPClassifierCV``: alpha chosen by K-fold cross-validation
along a feature-selection path, then a refit.

``fit`` runs the (by default monotone, warm-started) path of :mod:`sparsitylab.estimators.path`
with the ``cv`` folds as members of one program (fold ``k`` trains on the rows of weight 1 in its
training mask and is scored on its held-out rows; the data are never copied), picks the alpha of
least mean validation loss (``selection="min"``) or the largest alpha whose mean is within one
standard error of it (``"1se"``, glmnet's ``lambda.1se``: the sparsest such point when the sets
are nested, as on a monotone warm path), and keeps that point of the same path refitted on all
rows (trained beside the folds, as one more member of the same programs). Each path point is
judged after a *relaxed* refit (``relax_epochs`` of training with no penalty and the dropped
inputs held at zero; all points and folds in one batch), so the cross-validation compares
selected feature sets rather than shrunken weights; the chosen point of the all-rows path gets
the same relaxed refit.

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
    _check_count,
    _prepare,
    check_alphas,
    check_feature_penalty,
    check_path,
    choose,
    cv_folds,
    default_alphas,
    default_warm_epochs,
    feature_names,
    relax,
    run_path,
    selected_mask,
    summary,
)


class _PathCV:
    _cv_constraints = {
        "alphas": ["array-like", None],
        "n_alphas": [Interval(Integral, 1, None, closed="left")],
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
        """Cross-validate alpha along the path, then refit on every row (see the module doc).

        The parameters are checked first (a refused one leaves an earlier fit as it was); a fit
        that fails once it has started (invalid data, divergence, nothing selected to refit
        densely) leaves the estimator unfitted, as ``SparseMLPRegressor.fit`` does.
        """
        self._check_params()
        check_feature_penalty(self, "cross-validating alpha")
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
        _check_count("n_alphas", self.n_alphas, 1)
        _check_count("warm_epochs", self.warm_epochs, 1, none=True)
        _check_count("relax_epochs", self.relax_epochs, 0, none=True)
        alphas = None if self.alphas is None else check_alphas(self.alphas)
        try:
            self._fit_cv(X, y, alphas)
        except BaseException:
            self._forget_fit()
            raise
        if self.verbose:
            print(f"{type(self).__name__} ({self.cv} folds): {summary(self.path_)}")
        return self

    def _fit_cv(self, X, y, alphas):
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
        if alphas is None:
            alphas = default_alphas(network, config.loss, X, Y, ones, keys[0], int(self.n_alphas))
        warm, relax_epochs = self._epochs(alphas)
        # the folds and the refit on every row run along the grid together (features leave as
        # alpha grows); only the chosen point of the refit needs its relaxed refit
        cv_run = run_path(
            self, network, config, data, keys, train_w, val_w, alphas, self.warm_start, warm,
            relax_epochs, self.monotone, every_row=True,
        )  # fmt: skip
        check_path(self, cv_run.diverged)
        best = choose(cv_run.val_loss, self.selection, cv_run.diverged)
        start = time.perf_counter()
        chosen = cv_run.every_row[best]
        if relax_epochs:
            refit = keys[:1], [ones], [np.zeros(n, np.float32)]
            chosen = relax(self, network, config, data, *refit, [chosen], relax_epochs)[0]
        seconds = cv_run.seconds + time.perf_counter() - start
        self._store(network, chosen, slice(0, 1))  # drops an earlier fit's CV attributes
        self.alphas_ = alphas
        self.alpha_ = float(alphas[best])
        self._store_fold_loss(cv_run.val_loss, n_outputs)
        self.path_ = FeaturePath(
            alphas=alphas, val_loss=cv_run.val_loss.mean(axis=1), val_loss_folds=cv_run.val_loss,
            selected=np.stack([selected_mask(r.params) for r in cv_run.every_row]),
            feature_names=feature_names(self, p), best_index=best, diverged=cv_run.diverged,
            mode=cv_run.mode, seconds=seconds,
        )  # fmt: skip
        self.feature_importances_ = self.path_.leave_alpha
        if self.refit_dense:
            cols = self.selected_features_
            if len(cols) == 0:
                raise ValueError(
                    f"no feature was selected at the chosen alpha ({alphas[best]:.4g}); nothing "
                    "to refit densely: give smaller alphas, or set refit_dense=False"
                )
            is_clf = isinstance(self, SparseMLPClassifier)
            base = SparseMLPClassifier if is_clf else SparseMLPRegressor
            params = {k: v for k, v in self.get_params().items() if k in base().get_params()}
            dense = clone(base(**params)).set_params(penalty=None)
            self.dense_estimator_ = dense.fit(X[:, cols], y)

    def _forward(self, X):
        dense = getattr(self, "dense_estimator_", None)
        if dense is None:
            return super()._forward(X)
        check_is_fitted(self, "params_")
        X = to_float32(validate_data(self, X, reset=False, dtype=np.float64))
        return dense._forward(X[:, self.selected_features_])


class SparseMLPRegressorCV(_PathCV, SparseMLPRegressor):
    """:class:`SparseMLPRegressor` with alpha chosen by K-fold cross-validation along a
    feature-selection path, then refitted on all rows.

    Extra parameters: ``penalty`` must select features: ``"group_input"`` (default) or
    ``"hadamard_input"``. ``alphas`` (distinct values >= 0, at least one; default ``n_alphas``
    values, geometric over three decades), ``cv`` (folds), ``warm_start`` (walk up the grid from
    the previous fit; else every (alpha, fold) is one batched member, fitted from the initial
    weights), ``monotone`` (warm paths only: a dropped input stays out at every larger alpha, so
    the selected sets are nested; a batched path is free), ``warm_epochs`` (integer >= 1; default
    ``max_epochs`` per decade of the grid), ``relax_epochs`` (integer >= 0; default
    ``max_epochs // 4``), ``selection`` ("min": least mean validation loss; "1se": the largest
    alpha whose mean is within one standard error of it), ``refit_dense`` (an unpenalized network
    on the selected columns). ``verbose`` prints one line on the path (and ``dense_estimator_``
    its own). ``alpha`` is not used (the grid is ``alphas``); ``early_stopping``,
    ``n_estimators > 1`` and ``bootstrap`` are refused. Path points that diverge on some fold, or
    on the refit on every row, are never chosen (a ``RuntimeWarning`` counts them; all of them:
    :class:`~sparsitylab.DivergenceError`).
    Defaults favour selection: full-batch proximal SGD (``learning_rate=0.1``), whose proximal
    step is the exact group-lasso prox; with Adam the step sizes are rescaled per weight and rows
    reach zero only for much larger alphas.
    The defaults assume standardized inputs and a target of unit scale: wrap the estimator in
    ``sklearn.compose.TransformedTargetRegressor(transformer=StandardScaler())`` for a target
    in other units (at ``learning_rate=0.1`` a target in the hundreds diverges).

    Attributes (beside the estimator's): ``alpha_``, ``alphas_`` (the grid, increasing),
    ``mse_path_`` ``(n_alphas, cv)``: the mean squared error on each held-out fold (over its rows
    and outputs, as ``LassoCV``'s) after the point's relaxed refit, inf where training diverged;
    ``path_`` (:class:`~sparsitylab.estimators.path.FeaturePath`; its ``val_loss`` is the
    data-fit, half the squared error), ``selected_features_``, ``selected_feature_names_``,
    ``feature_importances_`` (``path_.leave_alpha``: the smallest grid alpha from which each
    feature stays out, inf for one still in at the largest alpha; on a nested path the chosen
    model's features are those with ``feature_importances_ > alpha_``, on a free one a feature it
    does not use may rank above one it does), ``dense_estimator_`` with ``refit_dense``.
    ``n_iter_``, ``history_`` and ``best_epoch_`` describe the chosen model's last stretch of
    training only: its relaxed refit (``relax_epochs``), or with ``relax_epochs=0`` the chosen
    alpha's own fit (``warm_epochs``; ``max_epochs`` for the first alpha or a batched path).

    With ``SelectFromModel``, whose default ``threshold="mean"`` becomes inf when some
    importance is inf, give a finite threshold: ``threshold=t`` keeps the features still selected
    at every grid alpha below ``t``; ``selected_features_`` is the chosen model's own set.
    """

    _parameter_constraints = {
        **SparseMLPRegressor._parameter_constraints,
        **_PathCV._cv_constraints,
    }

    def _store_fold_loss(self, val_loss, n_outputs):
        # the data-fit is 0.5 * sum over outputs of the squared error, averaged over rows
        self.mse_path_ = 2.0 * val_loss / n_outputs


class SparseMLPClassifierCV(_PathCV, SparseMLPClassifier):
    """:class:`SparseMLPClassifier` with alpha chosen by stratified K-fold cross-validation along a
    feature-selection path; see :class:`SparseMLPRegressorCV`. In place of ``mse_path_`` it has
    ``log_loss_path_`` ``(n_alphas, cv)``: the mean log-loss (``sklearn.metrics.log_loss``) on
    each held-out fold after the point's relaxed refit, inf where training diverged (equal to
    ``path_.val_loss_folds``)."""

    _parameter_constraints = {
        **SparseMLPClassifier._parameter_constraints,
        **_PathCV._cv_constraints,
    }

    def _store_fold_loss(self, val_loss, n_outputs):
        self.log_loss_path_ = val_loss
