"""What the two sparse MLP estimators share: parameters, validation, plans and fitted state.

A fit is planned as *members* of the training engine (one per ensemble member, and in a sweep one
per configuration x fold x member); ``_plan`` turns the estimator's parameters into the pieces the
engine needs, ``_store`` turns one member slice of the engine's result back into fitted attributes.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from numbers import Integral, Real

import jax
import numpy as np
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from sparsitylab._checks import to_float32
from sparsitylab._errors import DivergenceError
from sparsitylab.engine.networks import ACTIVATIONS, MLP
from sparsitylab.engine.optimizers import OPTIMIZERS, Optimizer
from sparsitylab.engine.penalties import (
    L1,
    L2,
    ElasticNet,
    GroupLasso,
    HadamardInput,
    MaxNorm,
    Sum,
)
from sparsitylab.engine.trainer import (
    RECORDS,
    Data,
    Member,
    TrainConfig,
    divergence_report,
    stack_members,
    train,
)

PENALTIES = (
    "l1",
    "l1_subgradient",
    "l2",
    "elasticnet",
    "group_input",
    "group_neurons",
    "hadamard_input",
)


def check_max_norm(name, max_norm):
    """Refuse ``max_norm`` with a penalty on the first layer's input rows: the max-norm
    projection acts on its columns (each unit's incoming weights), the two groups overlap, and
    proximal steps in turn are then not the proximal step of the sum (their fixed points move
    with the learning rate; see ``engine.penalties.Sum``)."""
    if max_norm is not None and name in ("group_input", "hadamard_input"):
        raise ValueError(
            f"max_norm cannot be combined with penalty={name!r}: the max-norm constraint acts on "
            "each unit's incoming weights (the first layer's columns) and the penalty on its "
            "input rows, and the training's proximal steps cannot keep both exactly. Set "
            "max_norm=None, or use max_norm with another penalty (e.g. 'l1' or 'elasticnet')"
        )


def make_penalty(name, alpha, l1_ratio, max_norm):
    """The engine penalty for the estimator parameters (``None``: no penalty)."""
    check_max_norm(name, max_norm)
    terms = {
        None: (),
        "l1": (L1(alpha),),
        "l1_subgradient": (L1(alpha, mode="subgradient"),),
        "l2": (L2(alpha),),
        "elasticnet": (ElasticNet(alpha, l1_ratio),),
        "group_input": (GroupLasso(alpha, over="input"),),
        "group_neurons": (GroupLasso(alpha, over="neurons"),),
        "hadamard_input": (HadamardInput(alpha),),
    }[name]
    if max_norm is not None:
        terms = (*terms, MaxNorm(max_norm))
    return Sum(terms)


def feature_names(est, n_features) -> np.ndarray:
    """The fitted pandas column names, else ``x0, x1, ...``."""
    names = getattr(est, "feature_names_in_", None)
    if names is None:
        names = [f"x{j}" for j in range(n_features)]
    return np.asarray(names, dtype=object)


class SelectedFeatureNames:
    """``selected_feature_names_`` from the estimator's ``selected_features_``."""

    @property
    def selected_feature_names_(self):
        """Names of the selected inputs (``x0, x1, ...`` when fitted without pandas names)."""
        selected = self.selected_features_  # checks that the model is fitted
        return feature_names(self, self.n_features_in_)[selected]


# the hyperparameters the engine computes with in float32: a value that overflows to inf there,
# or underflows to 0 (below the smallest normal float32: XLA flushes subnormals to zero)
FLOAT32_PARAMETERS = ("alpha", "weight_decay", "learning_rate", "max_norm", "min_delta", "dropout")
_F32 = np.finfo(np.float32)


def check_float32_parameters(est, names=FLOAT32_PARAMETERS):
    """Refuse the ``names`` of ``est`` whose value is not 0 but becomes inf or 0 in float32, and
    a ``dropout`` that rounds to 1 (every unit dropped)."""
    for name in names:
        value = getattr(est, name, None)
        if value is None or isinstance(value, bool) or not isinstance(value, Real):
            continue
        value = float(value)
        if value == 0 or not np.isfinite(value):
            continue  # 0 is exact; non-finite values are the parameter constraints' to refuse
        with np.errstate(over="ignore", under="ignore"):
            single = abs(float(np.float32(value)))
        if np.isinf(single) or single < _F32.tiny:
            limit = "overflows to inf" if np.isinf(single) else "underflows to 0"
            raise ValueError(
                f"{name}={value:g} {limit} in float32, in which the network trains; use a value "
                f"between {_F32.tiny:.3g} and {_F32.max:.3g}"
                + (" (or 0)" if name in ("alpha", "weight_decay", "min_delta") else "")
            )
        if name == "dropout" and single >= 1:
            raise ValueError(
                f"dropout={value!r} rounds to 1 in float32 (every unit dropped); use a value "
                "below 1 - 6e-8"
            )


def _is_positive_whole(h) -> bool:
    return isinstance(h, Real) and not isinstance(h, bool) and h >= 1 and h == int(h)


def check_numeric_columns(X):
    """Refuse a pandas ``X`` without columns, or name its columns that are not numeric (or
    boolean)."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return
    if len(dtypes) == 0:
        raise ValueError("X has no columns; give at least one numeric feature column")
    bad = [str(c) for c, t in dtypes.items() if not (is_numeric_dtype(t) or is_bool_dtype(t))]
    if bad:
        raise ValueError(
            f"column(s) {', '.join(map(repr, bad))} of X are not numeric; encode them first "
            "(e.g. one-hot columns) or drop them"
        )


# What sparsitylab.sparse (prune, retrain, prune_schedule, compact, quantize), a path and the CV
# estimators' fit set on a fitted network: a new fit (or path) replaces that network, so ``_store``
# drops them (the CSR path of a pruned network would otherwise keep predicting small batches, and
# a CV estimator's dense refit would keep predicting from the old selection); a path or a CV fit
# sets its own again after ``_store``.
EDITED_ATTRIBUTES = (
    "sparse_inference_", "masks_", "schedule_", "compaction_", "quantization_", "alpha_", "path_",
    "alphas_", "mse_path_", "log_loss_path_", "dense_estimator_",
)  # fmt: skip


def still_improving(loss) -> bool:
    """Whether a training-loss history (one member, every epoch) was still falling at its end:
    the best of its last tenth (at least one epoch) is below the best before by more than 1% of
    that and by more than 1e-4 of the first epoch's loss (``SparseMLPBase._warn_unconverged``)."""
    loss = np.asarray(loss, np.float64)
    k = max(1, len(loss) // 10)
    if len(loss) < 2 or not np.all(np.isfinite(loss)):
        return False
    before, tail = loss[:-k].min(), loss[-k:].min()
    drop = before - tail
    return bool(drop > 1e-2 * abs(before) and drop > 1e-4 * abs(loss[0]))


class SparseMLPBase(SelectedFeatureNames, BaseEstimator):
    """Shared implementation; use :class:`SparseMLPRegressor` or :class:`SparseMLPClassifier`."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "penalty": [StrOptions(set(PENALTIES)), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_norm": [Interval(Real, 0, None, closed="neither"), None],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "patience": [Interval(Integral, 0, None, closed="left")],
        "min_delta": [Interval(Real, 0, None, closed="left")],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "bootstrap": ["boolean"],
        "record": [tuple, list],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self, hidden_layer_sizes=(32,), activation="relu", penalty=None, alpha=1e-3,
        l1_ratio=0.5, weight_decay=0.0, max_norm=None, dropout=0.0, batch_norm=False,
        optimizer="adam", learning_rate=1e-3, batch_size=None, max_epochs=1000,
        early_stopping=False, validation_fraction=0.2, patience=10, min_delta=0.0,
        n_estimators=1, bootstrap=False, record=(), random_state=None, verbose=0,
    ):  # fmt: skip
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.weight_decay = weight_decay
        self.max_norm = max_norm
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.min_delta = min_delta
        self.n_estimators = n_estimators
        self.bootstrap = bootstrap
        self.record = record
        self.random_state = random_state
        self.verbose = verbose

    # --- what subclasses define -------------------------------------------------------------
    _loss: str

    def _encode_targets(self, y):  # -> (targets for the engine, n_outputs)
        raise NotImplementedError

    def _stratify(self, y):
        return None

    # --- planning ---------------------------------------------------------------------------
    def _hidden(self):
        sizes = np.atleast_1d(self.hidden_layer_sizes)
        if sizes.ndim != 1 or not all(_is_positive_whole(h) for h in sizes.tolist()):
            raise ValueError(
                "hidden_layer_sizes must be a positive integer or a sequence of them, got "
                f"{self.hidden_layer_sizes!r}"
            )
        return tuple(int(h) for h in sizes.tolist())

    def _network(self, n_features, n_outputs):
        return MLP(
            n_inputs=n_features, hidden=self._hidden(), n_outputs=n_outputs,
            activation=self.activation, batch_norm=bool(self.batch_norm),
            dropout=self.dropout > 0, input_gate=self.penalty == "hadamard_input",
        )  # fmt: skip

    def _config(self):
        return TrainConfig(
            loss=self._loss, max_epochs=int(self.max_epochs), batch_size=self.batch_size,
            early_stopping=bool(self.early_stopping), patience=int(self.patience),
            min_delta=float(self.min_delta), record=tuple(self.record),
        )  # fmt: skip

    def _hyper(self, alpha=None):
        """The numbers a member trains with: penalty (at ``alpha``, default ``self.alpha``),
        optimizer and dropout rate."""
        alpha = self.alpha if alpha is None else alpha
        penalty = make_penalty(self.penalty, alpha, self.l1_ratio, self.max_norm)
        opt = Optimizer(self.optimizer, self.learning_rate, self.weight_decay)
        return penalty, opt, float(self.dropout)

    def _check_params(self):
        self._validate_params()
        check_float32_parameters(self)
        check_max_norm(self.penalty, self.max_norm)
        for name in self.record:
            if name not in RECORDS:
                raise ValueError(f"unknown record {name!r}; valid options are {sorted(RECORDS)}")
        if not self._hidden() and "hamming" in self.record:
            raise ValueError(
                "record 'hamming' compares the hidden units' ReLU patterns: it needs at least one "
                "hidden layer (hidden_layer_sizes=() has none)"
            )

    def _validate_fit(self, X, y):
        check_numeric_columns(X)
        X, y = validate_data(
            self, X, y, dtype=np.float64, ensure_min_samples=2, multi_output=True,
            y_numeric=self._loss != "logistic" and self._loss != "softmax",
        )  # fmt: skip
        return to_float32(X), y

    def _validate_validation_data(self, validation_data, n_outputs):
        """``validation_data=(X_val, y_val)`` checked as :meth:`_validate_more_rows` does.
        Returns ``X_val`` and the encoded ``y_val`` for the engine."""
        try:
            X_val, y_val = validation_data
        except (TypeError, ValueError):
            raise ValueError("validation_data must be a pair (X_val, y_val)") from None
        return self._validate_more_rows(X_val, y_val, n_outputs, "X_val", "y_val")

    def _validate_more_rows(self, X, y, n_outputs, x_name="X", y_name="y"):
        """Rows beside the training data (validation rows, or retraining data) checked against
        it (``n_outputs`` outputs): the same columns (and pandas names), as many rows in ``y`` as
        in ``X``, finite values within float32's range, the training targets' outputs or
        classes. Returns ``X`` as float32 and the encoded ``y``."""
        check_numeric_columns(X)
        X, y = validate_data(
            self, X, y, reset=False, dtype=np.float64, multi_output=True,
            y_numeric=self._loss != "logistic" and self._loss != "softmax",
        )  # fmt: skip
        Y, n_new = self._encode_targets(y, fitted=True)
        if n_new != n_outputs:
            raise ValueError(f"{y_name} has {n_new} output(s) but the training y has {n_outputs}")
        return to_float32(X, x_name), Y

    def _split(self, X, Y, n_outputs, validation_data, rng):
        """Training/validation data and each member's training weights."""
        if validation_data is not None:
            Xv, Yv = self._validate_validation_data(validation_data, n_outputs)
            _, _, weights = self._draw_rows(rng, Y, hold_out=False)
            return Data(X, Y, Xv, Yv), weights, np.ones(Xv.shape[0], np.float32)
        train, val, weights = self._draw_rows(rng, Y, hold_out=self.early_stopping)
        if val is None:
            return Data(X, Y), weights, None
        data = Data(X[train], Y[train], X[val], Y[val])
        return data, weights, np.ones(len(val), np.float32)

    def _draw_rows(self, rng, Y, hold_out):
        """``fit``'s random draws on the rows of ``Y``, in its order (``sweep`` repeats them on
        each fold): with ``hold_out``, the validation split (``validation_fraction`` of the rows,
        stratified for classifiers), then each member's bootstrap counts on the training rows.
        Returns the training and validation row indices (``None``: no split) and each member's
        weights on the training rows."""
        train, val = np.arange(len(Y)), None
        if hold_out:
            seed = rng.randint(2**31 - 1)
            try:
                train, val = train_test_split(
                    train, test_size=self.validation_fraction, random_state=seed,
                    stratify=self._stratify(Y),
                )  # fmt: skip
            except ValueError:
                train, val = (), ()
            if len(train) < 1 or len(val) < 1:
                raise ValueError(self._split_message(Y)) from None
        m = len(train)
        weights = [
            np.bincount(rng.randint(m, size=m), minlength=m).astype(np.float32)
            if self.bootstrap
            else np.ones(m, np.float32)
            for _ in range(self.n_estimators)
        ]
        return train, val, weights

    def _split_message(self, Y):
        """Why early stopping cannot hold out ``validation_fraction`` of the rows of ``Y``."""
        n = len(Y)
        what = f"{n} rows"
        strata = self._stratify(Y)
        if strata is not None:
            codes, counts = np.unique(strata, return_counts=True)
            labels = np.asarray(getattr(self, "classes_", codes))[codes.astype(int)]
            pairs = zip(labels.tolist(), counts.tolist(), strict=True)
            per_class = ", ".join(f"{label!r}: {c}" for label, c in pairs)
            what += (
                f" in {len(codes)} classes ({per_class}); the split is stratified, so each class "
                "needs a row on both sides and each side a row of every class"
            )
            if counts.min() < 2:
                what += " (a class with one row cannot be split)"
        return (
            f"early stopping cannot hold out validation_fraction={self.validation_fraction} of "
            f"{what}. Pass validation_data=(X_val, y_val), a larger validation_fraction, more "
            "data, or early_stopping=False"
        )

    def _member_keys(self, rng, count):
        base = jax.random.PRNGKey(rng.randint(2**31 - 1))
        return [jax.random.fold_in(base, i) for i in range(count)]

    # --- fitting ----------------------------------------------------------------------------
    def fit(self, X, y, validation_data=None):
        """Train the network(s) on ``X, y``.

        ``validation_data=(X_val, y_val)`` gives the data monitored by early stopping and
        recorded as ``history_["val_loss"]``; otherwise, with ``early_stopping=True``, a random
        ``validation_fraction`` of the rows is held out (stratified for classifiers).

        A fit that fails once it has started (invalid data, divergence) leaves the estimator
        unfitted, not with a mix of the old network and the new data's attributes.
        """
        self._check_params()
        try:
            X, y = self._validate_fit(X, y)
            Y, n_outputs = self._encode_targets(y, fitted=False)
            rng = check_random_state(self.random_state)
            data, weights, val_weight = self._split(X, Y, n_outputs, validation_data, rng)
            penalty, opt, rate = self._hyper()
            keys = self._member_keys(rng, self.n_estimators)
            members = stack_members([
                Member(k, penalty, opt, rate, w, val_weight)
                for k, w in zip(keys, weights, strict=True)
            ])  # fmt: skip
            network = self._network(X.shape[1], n_outputs)
            result = train(network, self._config(), data, members)
            self._store(network, result, slice(None))
        except BaseException:
            self._forget_fit()
            raise
        self._warn_unconverged(result)
        if self.verbose:
            print(
                f"{type(self).__name__}: {int(self.n_iter_)} epochs, "
                f"final loss {float(np.nanmin(np.atleast_2d(self.history_['loss'])[:, -1])):.6g}"
            )
        return self

    def _forget_fit(self):
        """Drop every fitted attribute (``check_is_fitted`` then fails)."""
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            del self.__dict__[name]
        self.__dict__.pop("_y_ndim", None)

    _standardize = "inputs and targets"  # what the divergence advice says to standardize

    def _divergence_advice(self, penalty=True):
        """What to try after a divergence: a smaller learning rate and standardized data always;
        with ``penalty``, also a smaller ``alpha`` or ``weight_decay`` when that one is strong
        (``alpha >= 1e3``, or a step's share ``learning_rate * alpha >= 1``; the same for
        ``weight_decay``), else a stronger penalty. A fit whose objective ran away with finite
        weights (an adaptive rule's steps too large) gets no penalty advice."""
        lr = float(self.learning_rate)
        tips = [f"a smaller learning_rate (now {self.learning_rate})"]
        tips.append(f"standardized {self._standardize}")
        strong = []
        alpha, decay = float(self.alpha), float(self.weight_decay)
        if self.penalty is not None and (alpha >= 1e3 or alpha * lr >= 1):
            strong.append(f"a smaller alpha (now {self.alpha})")
        if decay >= 1e3 or decay * lr >= 1:
            strong.append(f"a smaller weight_decay (now {self.weight_decay})")
        if penalty:
            tips += strong or ["a stronger penalty"]
        return ", ".join(tips[:-1]) + ", or " + tips[-1]

    def _warn_unconverged(self, result):
        """Warn (``ConvergenceWarning``) when a member trained all ``max_epochs`` while still
        improving: with early stopping, when its patience had not run out (its best epoch is
        among the last ``max(patience, 1)``); without, when the best training loss of the last
        tenth of the epochs (at least one) is below the best before it by more than 1% of that
        and by more than 1e-4 of the first epoch's loss. ``fit`` calls it; the fits inside a
        path, a CV estimator's path or a sweep do not."""
        E = int(self.max_epochs)
        capped = np.asarray(result.n_epochs) >= E
        if not np.any(capped) or E < 2:
            return
        if self.early_stopping:
            last = E - max(int(self.patience), 1)
            still = capped & (np.asarray(result.best_epoch) >= last)
            detail = (
                "the validation loss was still improving (early stopping's "
                f"patience={self.patience} had not run out)"
            )
        else:
            loss = np.asarray(result.history["loss"], np.float64)
            still = capped & np.array([still_improving(h) for h in loss])
            k = max(1, E // 10)
            detail = f"the training loss was still falling over the last {k} epochs"
        if not np.any(still):
            return
        who = "" if len(still) == 1 else f" ({int(still.sum())} of {len(still)} members)"
        warnings.warn(
            f"{type(self).__name__} stopped at max_epochs={E}{who} while {detail}: the fit has "
            f"not converged. Raise max_epochs, or the learning_rate (now {self.learning_rate}) "
            "if training is slow" + ("" if self.early_stopping else ", or set early_stopping=True"),
            ConvergenceWarning,
            stacklevel=3,
        )

    def _raise_if_diverged(self, result, members=slice(None), prefix=""):
        """``DivergenceError`` (``prefix`` + what happened + advice) when a member of ``result``
        among ``members`` diverged; with the objective test alone (finite weights: the steps
        were too large) the advice names no penalty."""
        report = divergence_report(result, members)
        if report is None:
            return
        epochs = np.atleast_1d(np.asarray(result.diverged_epoch)[members])
        flags = result.objective_diverged
        blown = flags is not None and bool(
            np.all(np.atleast_1d(np.asarray(flags)[members])[epochs >= 0])
        )
        raise DivergenceError(f"{prefix}{report}. Try {self._divergence_advice(not blown)}.")

    def _store(self, network, result, members):
        """Set the fitted attributes from ``result`` restricted to ``members`` (a slice/indices),
        dropping those that describe an earlier fitted network (:data:`EDITED_ATTRIBUTES`)."""
        self._raise_if_diverged(result, members)
        take = lambda tree: jax.tree.map(lambda v: np.asarray(v)[members], tree)  # noqa: E731
        for name in EDITED_ATTRIBUTES:
            self.__dict__.pop(name, None)
        self.network_ = network
        self.params_ = take(result.params)
        self.state_ = take(result.state)
        n_epochs = np.asarray(result.n_epochs)[members]
        self.n_iter_ = int(n_epochs.max())
        self.best_epoch_ = np.asarray(result.best_epoch)[members]
        history = {k: np.asarray(v)[members][:, : self.n_iter_] for k, v in result.history.items()}
        single = len(n_epochs) == 1
        self.history_ = {k: (v[0] if single else v) for k, v in history.items()}
        if single:
            self.best_epoch_ = int(self.best_epoch_[0])
        weights = [layer["w"] for layer in self.params_]
        self.coefs_ = [w[0] if single else w for w in weights]
        self.intercepts_ = [(layer["b"][0] if single else layer["b"]) for layer in self.params_]
        self.sparsity_ = np.array([float(np.mean(w == 0)) for w in weights])
        first = weights[0]
        if "gate" in self.params_[0]:
            first = first * self.params_[0]["gate"][..., None]
        self.feature_importances_ = np.abs(first).mean(axis=(0, 2))
        return self

    # --- feature selection (sparsitylab.estimators.path) ----------------------------------------
    @property
    def selected_features_(self):
        """Indices (columns of ``X``) of the inputs whose (gated) first-layer row is non-zero in
        some member; a compacted network's rows are mapped back to the columns it reads."""
        check_is_fitted(self, "params_")
        from sparsitylab.estimators.path import selected_mask
        from sparsitylab.sparse._model import unwrap

        columns, _ = unwrap(self.network_)
        rows = np.flatnonzero(selected_mask(self.params_))
        return rows if columns is None else columns[rows]

    def path(
        self,
        X,
        y,
        alphas=None,
        n_alphas=20,
        warm_start=True,
        *,
        validation_data=None,
        return_params=False,
        warm_epochs=None,
        relax_epochs=0,
        monotone=True,
    ):
        """Fit along a grid of penalty strengths; see :mod:`sparsitylab.estimators.path`.

        Needs ``penalty="group_input"`` or ``"hadamard_input"`` (the penalties that select
        features). ``alphas``: distinct values >= 0 (default ``n_alphas >= 1`` values, geometric
        over three decades). With ``monotone=True`` (warm paths only; a ``warm_start=False``
        path is free) an input whose first-layer row is exactly zero at one alpha stays out for
        every larger alpha, so the selected sets are nested. A path trains one network per
        alpha: ``n_estimators > 1`` and ``bootstrap=True`` are refused. ``verbose`` prints one
        line on the path.

        Returns a :class:`~sparsitylab.estimators.path.FeaturePath` (also stored as ``path_``;
        its ``val_loss`` is the validation data-fit: half the squared error for regression, the
        mean log-loss for classification); the estimator is left fitted at the alpha of least
        validation loss (``alpha_``), and ``feature_importances_`` becomes the smallest grid
        alpha from which each feature stays out of the model (inf: still in at the largest).
        ``n_iter_``, ``history_`` and ``best_epoch_`` then describe the chosen point's last
        stretch of training only: its relaxed refit with ``relax_epochs > 0``, else its own fit
        (``warm_epochs`` on a warm path, ``max_epochs`` for the first alpha or a batched path).
        """
        from sparsitylab.estimators.path import estimator_path

        return estimator_path(
            self,
            X,
            y,
            alphas=alphas,
            n_alphas=n_alphas,
            warm_start=warm_start,
            validation_data=validation_data,
            return_params=return_params,
            warm_epochs=warm_epochs,
            relax_epochs=relax_epochs,
            monotone=monotone,
        )

    # --- prediction -------------------------------------------------------------------------
    def _forward(self, X):
        """Outputs of every ensemble member, ``(n_members, n, n_outputs)``, in evaluation mode."""
        check_is_fitted(self, "params_")
        check_numeric_columns(X)
        X = to_float32(validate_data(self, X, reset=False, dtype=np.float64))
        n = X.shape[0]
        sparse = getattr(self, "sparse_inference_", None)  # set by sparsitylab.prune for CSR layers
        if sparse is not None and sparse.accepts(n):
            return sparse(X)
        predict = _predictor(self.network_)
        if jax.default_backend() == "cpu":
            # a few compiled sizes serve every n; a row's outputs do not depend on the others'
            padded = max(8, 1 << (n - 1).bit_length())
            Xp = np.zeros((padded, X.shape[1]), np.float32)
            Xp[:n] = X
            return np.asarray(predict(self.params_, self.state_, Xp))[:, :n]
        # On accelerators a matrix product's summation order depends on its shape, so rows go
        # through blocks of one size: a row's prediction is the same in every batch it comes in.
        blocks = []
        for start in range(0, n, _BLOCK):
            Xb = np.zeros((_BLOCK, X.shape[1]), np.float32)
            rows = X[start : start + _BLOCK]
            Xb[: len(rows)] = rows
            blocks.append(np.asarray(predict(self.params_, self.state_, Xb))[:, : len(rows)])
        return np.concatenate(blocks, axis=1)  # n >= 1: validate_data refuses empty X


_BLOCK = 1024  # rows per prediction call on an accelerator


@lru_cache(maxsize=32)
def _predictor(network):
    def outputs(params, state, X):
        return jax.vmap(lambda p, s: network.apply(p, s, X)[0])(params, state)

    return jax.jit(outputs)
