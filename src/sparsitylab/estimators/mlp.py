"""``SparseMLPRegressor`` and ``SparseMLPClassifier``: scikit-learn estimators on the engine.

Objective (one member)::

    mean_i loss(y_i, f(x_i)) + Omega(W)

with ``loss`` half the squared error for regression (as scikit-learn's ``Lasso``), the logistic
or softmax cross-entropy for classification, and ``Omega`` the penalty chosen by ``penalty``:

* ``"l1"``: ``alpha ||W||_1`` by proximal steps (soft-thresholding: exact zeros);
  ``"l1_subgradient"``: the same penalty differentiated with the loss (no exact zeros);
* ``"l2"``: ``(alpha / 2) ||W||^2`` added to the loss (coupled weight decay);
* ``"elasticnet"``: ``alpha (l1_ratio ||W||_1 + (1 - l1_ratio) / 2 ||W||^2)``;
* ``"group_input"``: ``alpha sum_j ||W1[j, :]||_2``, one group per input feature (feature
  selection); ``"group_neurons"``: one group per hidden unit's incoming weights;
* ``"hadamard_input"``: ``(alpha / 2)(||g||^2 + ||W1||^2)`` on a gate ``g`` multiplying the
  inputs and the first layer, which equals the ``"group_input"`` penalty on the products
  ``g_j W1[j, :]`` (feature selection with exact zeros).

``W`` means the weight matrices only; biases are never penalized. ``weight_decay`` is decoupled
(AdamW-style: each step also shrinks the weights by ``learning_rate * weight_decay * W``),
``max_norm`` bounds the L2 norm of each unit's incoming weights by projection. Keras' ``l2(c)``
on a model trained on the mean squared error corresponds to ``penalty="l2", alpha=c``: both
objectives are proportional.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from sparsitylab._checks import to_float32
from sparsitylab.estimators._base import SparseMLPBase


class SparseMLPRegressor(RegressorMixin, SparseMLPBase):
    """A multi-layer perceptron for regression with sparsity-inducing penalties.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default (32,)
    activation : {"relu", "tanh", "sigmoid", "linear", "leaky_relu"}, default "relu"
    penalty : {None, "l1", "l1_subgradient", "l2", "elasticnet", "group_input", "group_neurons",
        "hadamard_input"}, default None
    alpha : float >= 0, default 1e-3
        Penalty strength (scaled as in scikit-learn's linear models; see the module docstring).
    l1_ratio : float in [0, 1], default 0.5
    weight_decay : float >= 0, default 0.0
        Decoupled weight decay per step (times the learning rate).
    max_norm : float or None
        Bound on each unit's incoming weight norm (projected in the optimizer's metric; refused
        with ``penalty="group_input"`` or ``"hadamard_input"``, whose groups it would cut across).
    dropout : float in [0, 1), default 0.0
        Inverted dropout after each hidden activation; identity at evaluation.
    batch_norm : bool, default False
    optimizer : {"sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad",
        "adadelta", "lbfgs"}, default "adam"
        Momentum and Nesterov use momentum 0.9. The decoupled ``weight_decay`` applies under
        every first-order rule (L-BFGS refuses it), so ``"adamw"`` and ``"adam"`` train alike:
        set ``weight_decay`` for AdamW.
    learning_rate : float > 0, default 1e-3
    batch_size : int or None (full batch), default None
    max_epochs : int, default 1000
        A fit that reaches ``max_epochs`` while still improving warns
        (``sklearn.exceptions.ConvergenceWarning``): with early stopping, when its patience had
        not run out; without, when the best training loss of the last tenth of the epochs is
        more than 1% below the best before it (and by more than 1e-4 of the first epoch's loss).
    early_stopping : bool, default False
        Stop when the validation loss has not improved by ``min_delta`` for ``patience`` epochs
        and restore the best weights (Keras' ``EarlyStopping`` semantics: ``patience=0`` stops
        at the first epoch without improvement, as ``patience=1`` does).
    validation_fraction, patience, min_delta
    n_estimators : int, default 1
        Ensemble members from different initial weights, trained together; predictions are
        averaged. ``bootstrap=True`` trains each on a bootstrap sample (bagging).
    record : tuple of {"grad_norm", "sparsity", "hamming", "max_error"}
        Per-epoch diagnostics computed inside the compiled loop, stored in ``history_``
        (``"hamming"`` needs at least one hidden layer; ``"max_error"`` is the regressor's,
        ``"error_rate"`` the classifier's).
    random_state : int, RandomState or None
    verbose : int

    ``alpha``, ``weight_decay``, ``learning_rate``, ``max_norm``, ``min_delta`` and ``dropout``
    must keep their value in float32, in which the network trains: a value that overflows to
    inf there, or underflows to 0 (a non-zero value below float32's smallest normal, 1.2e-38),
    is refused.

    Raises ``sparsitylab.DivergenceError`` when training diverges: the loss or the weights
    become NaN/inf, or (the adaptive rules' way, with finite weights) the training objective at
    the returned weights ends more than 10 times above its value at the initial weights, and
    above it by more than the data-fit of a constant prediction (``docs/engine.md``).

    Attributes
    ----------
    coefs_, intercepts_ : lists of arrays, one per layer (a leading member axis when
        ``n_estimators > 1``)
    history_ : dict of per-epoch arrays (``loss``, ``val_loss`` and the records)
    n_iter_ : epochs run; ``best_epoch_`` : best epoch (0-based) under early stopping (after
        :meth:`path` or a CV fit, these and ``history_`` describe the chosen model's last
        stretch of training only: see :meth:`path`)
    sparsity_ : fraction of exactly-zero weights per layer
    feature_importances_ : mean absolute first-layer weight per input feature (after
        :meth:`path`: ``path_.leave_alpha``)
    n_features_in_, feature_names_in_ (pandas input)
    network_, params_, state_ : the engine's network spec and parameter pytrees
    """

    _loss = "squared_error"

    def _encode_targets(self, y, fitted):
        y = to_float32(np.asarray(y, dtype=np.float64), "y")
        Y = y[:, None] if y.ndim == 1 else y
        if not fitted:
            self._y_ndim = y.ndim
        return Y, Y.shape[1]

    def predict(self, X):
        """Mean prediction of the ensemble."""
        out = self._forward(X).astype(np.float64).mean(axis=0)
        return out[:, 0] if self._y_ndim == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class SparseMLPClassifier(ClassifierMixin, SparseMLPBase):
    """A multi-layer perceptron classifier with sparsity-inducing penalties.

    Binary problems use one logit and the logistic loss; ``K > 2`` classes use ``K`` logits and
    the softmax cross-entropy. Parameters and attributes are those of
    :class:`SparseMLPRegressor`, plus ``classes_``. Early stopping holds out a stratified split.
    ``record`` also accepts ``"error_rate"``: the fraction of misclassified training rows per
    epoch (``history_["error_rate"]``, and ``history_["val_error_rate"]`` with validation data).
    """

    @property
    def _loss(self):
        return "logistic" if len(getattr(self, "classes_", ())) <= 2 else "softmax"

    def _encode_targets(self, y, fitted):
        y = column_or_1d(y, warn=True)
        if not fitted:
            check_classification_targets(y)
            self.classes_ = np.unique(y)
            if len(self.classes_) < 2:
                raise ValueError(
                    f"the classifier needs at least 2 classes in y, got {len(self.classes_)}"
                )
        codes = np.searchsorted(self.classes_, y)
        if np.any(codes >= len(self.classes_)) or np.any(
            self.classes_[np.minimum(codes, len(self.classes_) - 1)] != y
        ):
            raise ValueError("y contains labels that were not seen in training")
        if len(self.classes_) == 2:
            return codes.astype(np.float32)[:, None], 1
        return codes.astype(np.int32), len(self.classes_)

    _standardize = "inputs"

    def _stratify(self, Y):
        return Y[:, 0] if Y.ndim == 2 else Y

    def _validate_fit(self, X, y):
        self.__dict__.pop("classes_", None)
        return super()._validate_fit(X, y)

    def predict_proba(self, X):
        """Class probabilities, averaged over the ensemble members."""
        logits = self._forward(X)
        if len(self.classes_) == 2:
            p1 = expit(logits[..., 0].astype(np.float64))  # no overflow for confident logits
            proba = np.stack([1.0 - p1, p1], axis=-1)
        else:
            z = logits.astype(np.float64)
            z = np.exp(z - z.max(axis=-1, keepdims=True))
            proba = z / z.sum(axis=-1, keepdims=True)
        return proba.mean(axis=0)

    def predict(self, X):
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
