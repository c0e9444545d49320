"""scikit-learn estimators that fit sparse models *as* Hadamard networks, with a certificate each.

Every estimator trains a linear network whose weights are multiplied feature by feature and pays
weight decay ``(alpha / 2) * sum of squares of all weights``; at its (balanced) minimisers this is
the sparse model named in its docstring, with the *same* alpha (see ``docs/equivalence.md`` and
``docs/alpha-scaling.md``). After ``fit`` the estimator holds ``certificate_``: the network
objective, the sparse objective, the relative duality gap (convex cases), the KKT and zero-set
violations (and, for the non-convex bridge, the curvature on the support).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import scipy.special
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import check_cv
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from sparsitylab.equivalence._validation import (
    check_alpha,
    check_alphas,
    check_positive,
    check_positive_int,
    check_Xy,
)
from sparsitylab.equivalence.certificates import (
    Certificate,
    GroupDualNorm,
    lasso_duality_gap,
    logistic_duality_gap,
    nuclear_duality_gap,
)
from sparsitylab.equivalence.logistic import (
    fit_logistic,
    logistic_kkt_floor,
    logistic_network_objective,
)
from sparsitylab.equivalence.networks import group_network_objective, network_objective
from sparsitylab.equivalence.path import alpha_grid, path_vmap, path_vmap_folds, path_warm
from sparsitylab.equivalence.penalties import (
    L1,
    Bridge,
    GroupL1,
    balanced_group_layers,
    balanced_layers,
)
from sparsitylab.equivalence.softimpute import (
    balance,
    factorized_objective,
    fit_factorized,
    nuclear_objective,
)
from sparsitylab.equivalence.solvers import (
    fit_bridge,
    fit_quadratic,
    fit_variational,
    kkt_floor,
    negative_curvature,
    stationarity,
    support_hessian_eigenvalues,
)
from sparsitylab.estimators._base import SelectedFeatureNames

__all__ = [
    "HadamardLasso",
    "HadamardLassoCV",
    "HadamardElasticNet",
    "HadamardGroupLasso",
    "HadamardLogisticRegression",
    "FactorizedNuclearNorm",
    "hadamard_path",
]


# ----------------------------------------------------------------------------- validation helpers
def _check_depth(depth):
    if not isinstance(depth, numbers.Integral) or isinstance(depth, bool) or depth < 2:
        raise ValueError(
            f"depth must be an integer >= 2, got {depth!r}: depth 2 is the Lasso, depth k >= 3 the "
            "bridge penalty sum |beta|^(2/k)."
        )
    return int(depth)


def _path_alphas(alphas, n_alphas, eps, Xc, yc):
    """The alphas of a path: ``None`` -> ``n_alphas`` values on ``alpha_grid``, an int -> that many
    (scikit-learn >= 1.7's ``LassoCV(alphas=100)``), else the given values, all finite and > 0."""
    eps = check_positive(eps, "eps", upper=1.0)
    if alphas is None:
        return alpha_grid(Xc, yc, n_alphas=check_positive_int(n_alphas, "n_alphas"), eps=eps)
    if isinstance(alphas, numbers.Integral) and not isinstance(alphas, bool):
        return alpha_grid(Xc, yc, n_alphas=check_positive_int(alphas, "alphas"), eps=eps)
    return check_alphas(alphas)


def _check_solver_params(est):
    """The checks every iterative Hadamard estimator shares; returns ``alpha`` as a float."""
    check_positive_int(est.max_iter, "max_iter")
    check_positive(est.tol, "tol")
    return check_alpha(est.alpha)


def _center(X, y, fit_intercept):
    if fit_intercept:
        xm, ym = X.mean(axis=0), float(y.mean())
        return X - xm, y - ym, xm, ym
    return X, y, np.zeros(X.shape[1]), 0.0


def _warn_if(not_converged, what):
    if not_converged:
        warnings.warn(
            f"{what} did not reach its tolerance; see certificate_ for how far it is. "
            "Increase max_iter.",
            ConvergenceWarning,
            stacklevel=3,
        )


def _quadratic_certificate(
    X, y, Xc, yc, coef, intercept, layers, alpha, penalty, ridge, res, kkt_tol
):  # fmt: skip
    """The certificate of a squared-loss fit (``X, y`` raw; ``Xc, yc`` centred the same way).

    Converged: KKT violation ``<= kkt_tol + kkt_floor`` (its rounding level), and for the bridge
    no negative curvature on the support (not a saddle).
    """
    n = X.shape[0]
    if isinstance(penalty, GroupL1):
        gates, weights = layers
        net = group_network_objective(gates, weights, penalty.groups, X, y, intercept, alpha)
    else:
        net = network_objective(layers, X, y, intercept, alpha, ridge)
    net = float(net)
    r = yc - Xc @ coef
    smooth = 0.5 * r @ r / n + 0.5 * ridge * coef @ coef
    sparse = smooth + penalty.value(coef, alpha)
    g = Xc.T @ r / n - ridge * coef
    lipschitz = np.einsum("ij,ij->j", Xc, Xc) / n + ridge
    kkt, zero = stationarity(g, coef, alpha, penalty, lipschitz)
    converged = kkt <= kkt_tol + kkt_floor(Xc, coef, np.linalg.norm(yc))
    curvature = float("nan")
    if isinstance(penalty, Bridge):
        gap = float("nan")
        lam = support_hessian_eigenvalues(Xc, coef, alpha, penalty, ridge)
        curvature = float(np.min(lam, initial=np.inf))
        converged = converged and not negative_curvature(lam)
        problem = (
            f"bridge regression, ({alpha:g} * {penalty.depth} / 2) * sum |beta|^(2/{penalty.depth})"
            " (non-convex: a stationary point without negative curvature on the support, not"
            " certified global)"
        )
    elif isinstance(penalty, GroupL1):
        gap = lasso_duality_gap(Xc, yc, coef, alpha, dual_norm=GroupDualNorm(penalty.groups))
        problem = f"group lasso, {alpha:g} * sum_g sqrt(|g|) ||beta_g||"
    else:
        gap = lasso_duality_gap(Xc, yc, coef, alpha, ridge=ridge)
        if ridge:
            problem = f"elastic net, {alpha:g} ||beta||_1 + ({ridge:g} / 2) ||beta||^2"
        else:
            problem = f"lasso, {alpha:g} ||beta||_1"
    return Certificate(
        problem=problem,
        network_objective=net,
        sparse_objective=float(sparse),
        duality_gap=gap,
        kkt_violation=kkt,
        zero_set_violation=zero,
        exact_step_change=res.exact_step_change,
        converged=bool(converged),
        support_curvature=curvature,
    )


class _SelectedFeatures(SelectedFeatureNames):
    """``selected_features_`` (and their names) from a fitted ``coef_``."""

    @property
    def selected_features_(self):
        """Indices of the features with a non-zero coefficient (in any output)."""
        check_is_fitted(self, "coef_")
        return np.flatnonzero(np.any(np.atleast_2d(self.coef_) != 0, axis=0))


class _HadamardRegressor(_SelectedFeatures, RegressorMixin, BaseEstimator):
    """Shared ``predict`` and fitting of the squared-loss networks."""

    def predict(self, X):
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_ + self.intercept_

    def _validate(self, X, y):
        return validate_data(self, X, y, y_numeric=True, dtype=np.float64)

    def _fit_quadratic(self, X, y, alpha, penalty, ridge, solver="lbfgs"):
        """Fit on ``X, y`` already checked by ``_validate`` (which set ``feature_names_in_``)."""
        Xc, yc, xm, ym = _center(X, y, self.fit_intercept)
        kkt_tol = self.tol * alpha
        if isinstance(penalty, Bridge):
            res = fit_bridge(
                Xc, yc, alpha, penalty.depth, ridge=ridge, max_iter=self.max_iter, kkt_tol=kkt_tol
            )
        elif solver == "variational":
            res = fit_variational(
                Xc, yc, alpha, ridge=ridge, max_iter=self.max_iter, kkt_tol=kkt_tol
            )
        else:
            res = fit_quadratic(
                Xc, yc, alpha, penalty, ridge=ridge, max_iter=self.max_iter, kkt_tol=kkt_tol
            )
        self.coef_ = res.beta
        self.intercept_ = ym - float(xm @ res.beta)
        if isinstance(penalty, GroupL1):
            self.layers_ = balanced_group_layers(res.beta, penalty.groups)
        else:
            self.layers_ = balanced_layers(res.beta, penalty.depth)
        self.n_iter_ = res.n_iter
        self.certificate_ = _quadratic_certificate(
            X, y, Xc, yc, self.coef_, self.intercept_, self.layers_, alpha, penalty, ridge, res,
            kkt_tol,
        )  # fmt: skip
        _warn_if(not self.certificate_.converged, type(self).__name__)
        return self


class HadamardLasso(_HadamardRegressor):
    """The Lasso (depth 2) or a bridge regression (depth >= 3), fitted as a Hadamard network.

    The network ``beta = w1 * ... * wk`` (one weight per feature per layer, an unpenalised intercept
    outside) is trained on ``1/(2n) ||y - X beta - b||^2 + (alpha/2) sum_l ||w_l||^2``, which is

    * depth 2: ``1/(2n) ||y - X beta - b||^2 + alpha ||beta||_1``, scikit-learn ``Lasso(alpha)``;
    * depth k >= 3: ``... + (alpha k / 2) sum |beta_j|^(2/k)``, skglm ``L2_3(1.5 alpha)`` (k = 3),
      ``L0_5(2 alpha)`` (k = 4). Non-convex: the fit starts from Lasso solutions and keeps the best
      local minimum it finds (``solvers.fit_bridge``).

    Parameters
    ----------
    alpha : float > 0, the weight decay (= the Lasso's alpha).
    depth : int >= 2.
    fit_intercept : bool.
    solver : ``"lbfgs"`` (working sets + variable-projection L-BFGS on the network + exact finish)
        or ``"variational"`` (Hoff's alternating ridge, depth 2 only).
    max_iter : L-BFGS iterations per working-set round (sweeps for ``"variational"``), for every
        network that the bridge's multistart trains.
    tol : finite, > 0. The fit stops, and ``certificate_.converged`` holds, when the KKT violation
        is at most ``tol * alpha + kkt_floor``: ``kkt_floor`` is the violation's rounding level,
        ``(n + p) eps max_j ||x_j|| (||y|| + sum_k ||x_k|| |beta_k|) / n``
        (``equivalence.solvers.kkt_floor``), which decides for ``alpha`` near zero or badly
        scaled columns. Depth >= 3 also needs no negative curvature on the support (non-convex:
        the certificate is local, see ``certificate_.support_curvature``).
    random_state : accepted for a uniform API; every solver here is deterministic (closed-form,
        balanced starts), so equal inputs always give equal numbers.

    Attributes
    ----------
    coef_, intercept_, layers_ (shape ``(depth, n_features)``, balanced), n_iter_, certificate_.
    """

    def __init__(
        self,
        alpha=1.0,
        depth=2,
        fit_intercept=True,
        solver="lbfgs",
        max_iter=1000,
        tol=1e-8,
        random_state=None,
    ):
        self.alpha = alpha
        self.depth = depth
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def fit(self, X, y):
        alpha = _check_solver_params(self)
        depth = _check_depth(self.depth)
        if self.solver not in ("lbfgs", "variational"):
            raise ValueError(f"solver must be 'lbfgs' or 'variational', got {self.solver!r}.")
        if self.solver == "variational" and depth != 2:
            raise ValueError(
                "solver='variational' is Hoff's route for the Lasso: it needs depth=2."
            )
        penalty = L1() if depth == 2 else Bridge(depth)
        X, y = self._validate(X, y)
        return self._fit_quadratic(X, y, alpha, penalty, 0.0, self.solver)


class HadamardElasticNet(_HadamardRegressor):
    """scikit-learn's ``ElasticNet(alpha, l1_ratio)`` as a depth-2 Hadamard network.

    Objective ``1/(2n)||y - X beta - b||^2 + alpha l1_ratio ||beta||_1
    + (alpha (1 - l1_ratio) / 2) ||beta||^2``. The network ``beta = u * v`` has weight decay
    ``alpha * l1_ratio`` on its layers and ``alpha (1 - l1_ratio)`` on the product (equivalently,
    the Lasso network on the data augmented by ``sqrt(n alpha (1 - l1_ratio)) I``).
    """

    def __init__(self, alpha=1.0, l1_ratio=0.5, fit_intercept=True, max_iter=1000, tol=1e-8):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y):
        alpha = _check_solver_params(self)
        rho = self.l1_ratio
        if not isinstance(rho, numbers.Real) or isinstance(rho, bool) or not 0 < rho <= 1:
            raise ValueError(
                f"l1_ratio must be in (0, 1], got {rho!r} (l1_ratio = 0 is ridge regression, which "
                "has no sparse network)."
            )
        X, y = self._validate(X, y)
        return self._fit_quadratic(X, y, alpha * rho, L1(), alpha * (1.0 - rho))


def _check_groups(groups, n_features):
    """Accept one group label per feature (a flat sequence, or a column of shape ``(p, 1)``), or a
    list of index lists (integers, each feature in exactly one list); return ids 0..G-1."""
    arr = None if groups is None or isinstance(groups, str) else np.asarray(groups, dtype=object)
    if arr is None or arr.ndim == 0:
        raise ValueError(
            f"groups must be one group label per feature, or lists of indices, got {groups!r}."
        )
    if arr.ndim == 2 and arr.shape[1] == 1:  # a column of labels, like a (n, 1) target
        arr = arr[:, 0]
    if arr.ndim == 1 and all(np.ndim(g) == 0 for g in arr):
        if len(arr) != n_features:
            raise ValueError(
                f"groups has {len(arr)} labels but X has {n_features} features: give one group "
                "label per feature, or a list of index lists."
            )
        labels = np.asarray(arr.tolist())
        if labels.dtype.kind == "f" and np.isnan(labels).any():
            raise ValueError("groups holds NaN labels; give every feature a group label.")
        _, ids = np.unique(labels, return_inverse=True)
        return ids.astype(np.int64)
    ids = np.full(n_features, -1, dtype=np.int64)
    for k, members in enumerate(groups):
        members = np.atleast_1d(np.asarray(members))
        if members.size == 0:
            raise ValueError(f"group {k} is empty; every group must hold at least one feature.")
        if members.ndim != 1 or not np.issubdtype(members.dtype, np.integer):
            raise ValueError(
                f"group {k} must be a flat list of integer feature indices, got "
                f"{members.tolist()!r} (booleans and floats are not indices)."
            )
        if members.min() < 0 or members.max() >= n_features:
            raise ValueError(f"group {k} has indices outside 0..{n_features - 1}.")
        if np.unique(members).size != members.size:
            raise ValueError(f"group {k} lists a feature more than once: {members.tolist()}.")
        if np.any(ids[members] >= 0):
            raise ValueError(f"group {k} repeats features already in another group.")
        ids[members] = k
    missing = np.flatnonzero(ids < 0)
    if missing.size:
        raise ValueError(
            f"groups do not cover the features: {missing.size} feature(s) belong to no group "
            f"(first: {missing[:5].tolist()}); give every feature exactly one group."
        )
    return ids


class HadamardGroupLasso(_HadamardRegressor):
    """The group lasso ``alpha * sum_g sqrt(|g|) ||beta_g||_2`` as a gated network.

    Each group's coefficients are a scalar gate times a vector, ``beta_g = s_g z_g``, trained with
    weight decay ``(alpha / 2)(|g| s_g^2 + ||z_g||^2)``; balanced (``|g| s_g^2 = ||z_g||^2``) this
    is
    ``alpha sqrt(|g|) ||beta_g||``: skglm's ``WeightedGroupL2(alpha, weights=sqrt(|g|))``.
    ``groups``: one label per feature (a column of shape ``(p, 1)`` is read as labels too), or a
    list of integer index lists covering every feature once.
    ``layers_`` is ``(gates, weights)``: one gate per group, one weight per feature.
    """

    def __init__(self, alpha=1.0, groups=None, fit_intercept=True, max_iter=1000, tol=1e-8):
        self.alpha = alpha
        self.groups = groups
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y):
        alpha = _check_solver_params(self)
        X, y = self._validate(X, y)
        self.group_ids_ = _check_groups(self.groups, X.shape[1])
        return self._fit_quadratic(X, y, alpha, GroupL1(self.group_ids_), 0.0)


class HadamardLogisticRegression(_SelectedFeatures, ClassifierMixin, BaseEstimator):
    """Binary L1 logistic regression as a depth-2 Hadamard network (intercept unpenalised).

    Objective ``mean log-loss + alpha ||beta||_1``: scikit-learn
    ``LogisticRegression(penalty="l1", C=1 / (n_samples * alpha))``. Binary only: ``y`` must hold
    exactly two classes (the scikit-learn tag ``classifier_tags.multi_class`` is False). Converged
    when the KKT violation is at most ``tol * alpha`` plus its rounding level
    (``equivalence.logistic.logistic_kkt_floor``), as for ``HadamardLasso``.
    """

    def __init__(self, alpha=1.0, max_iter=1000, tol=1e-8):
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y):
        alpha = _check_solver_params(self)
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        classes = np.unique(y)
        if classes.size < 2:
            raise ValueError(
                "HadamardLogisticRegression needs at least 2 classes in y, got 1 class: "
                f"{classes.tolist()}."
            )
        if classes.size > 2:
            raise ValueError(
                "Only binary classification is supported. HadamardLogisticRegression is binary: y "
                f"must hold exactly two classes, got {classes.size}."
            )
        self.classes_ = classes
        y01 = (y == self.classes_[1]).astype(np.float64)
        res, b = fit_logistic(X, y01, alpha, max_iter=self.max_iter, kkt_tol=self.tol * alpha)
        self.coef_ = res.beta[None, :]
        self.intercept_ = np.array([b])
        self.layers_ = balanced_layers(res.beta, 2)
        self.n_iter_ = res.n_iter
        n = X.shape[0]
        z = X @ res.beta + b
        loss = float(np.mean(np.logaddexp(0.0, z) - y01 * z))
        rho = y01 - scipy.special.expit(z)
        kkt, zero = stationarity(X.T @ rho / n, res.beta, alpha, L1(), np.ones(X.shape[1]))
        # the unpenalised intercept's stationarity: mean(y - sigmoid(z)) = 0
        kkt = float(np.max([kkt, abs(np.mean(rho))]))
        converged = kkt <= self.tol * alpha + logistic_kkt_floor(X, res.beta, b)
        net = float(
            logistic_network_objective((self.layers_[0], self.layers_[1], b), X, y01, alpha)
        )
        self.certificate_ = Certificate(
            problem=f"L1 logistic regression, mean log-loss + {alpha:g} ||beta||_1",
            network_objective=net,
            sparse_objective=loss + alpha * float(np.sum(np.abs(res.beta))),
            duality_gap=logistic_duality_gap(X, y01, res.beta, b, alpha),
            kkt_violation=kkt,
            zero_set_violation=zero,
            exact_step_change=res.exact_step_change,
            converged=bool(converged),
        )
        _warn_if(not converged, type(self).__name__)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def decision_function(self, X):
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X):
        p1 = scipy.special.expit(self.decision_function(X))
        return np.column_stack([1.0 - p1, p1])

    def predict(self, X):
        positive = self.decision_function(X) > 0
        return self.classes_[positive.astype(int)]


class FactorizedNuclearNorm(BaseEstimator):
    """Matrix completion by the factorised network ``M = U V^T`` with weight decay.

    Trains ``1/2 sum_observed (Y - U V^T)^2 + (alpha/2)(||U||_F^2 + ||V||_F^2)`` by L-BFGS from a
    small random start (``random_state``), which equals ``1/2 sum_observed (Y - M)^2 +
    alpha ||M||_*`` when ``rank`` is at least the rank of its solution. The certificate's
    ``zero_set_violation`` is ``(||residual||_op - alpha)_+``: positive means the rank is too small.

    Exact finish: the trained ``U V^T`` is balanced and its singular values at most
    ``1e-10 max(||P(Y)||_op, alpha)`` are set to exactly 0 (L-BFGS shrinks a direction the solution
    lacks towards 0 but never reaches it), so ``alpha >= ||P(Y)||_op`` gives ``M = 0`` exactly, as
    the Lasso gives exact zeros above ``alpha_max``. The fit has converged when its KKT violation,
    the largest of ``|A^T R B - alpha I|`` on the singular vectors ``A, B`` of the remaining
    (live) part of ``M`` (``R`` the observed residual) and ``(||R||_op - alpha)_+``, is at most
    ``tol * alpha``; otherwise it warns (``ConvergenceWarning``).

    ``fit(X, y=None, *, mask=None)``: ``X`` holds the observed entries, NaN where missing (or pass
    ``mask=``, True where observed); ``y`` is not used and must be None. Attributes ``U_``, ``V_``
    (balanced), ``completed_``, ``singular_values_``, ``n_iter_``, ``certificate_``.
    """

    def __init__(self, alpha=1.0, rank=10, max_iter=5000, random_state=None, tol=1e-6):
        self.alpha = alpha
        self.rank = rank
        self.max_iter = max_iter
        self.random_state = random_state
        self.tol = tol

    def fit(self, X, y=None, *, mask=None):
        if y is not None:
            raise ValueError(
                "FactorizedNuclearNorm takes no y: X is the matrix to complete. Pass the observed "
                "entries as a keyword, fit(X, mask=mask), or mark the missing ones NaN in X."
            )
        alpha = check_alpha(self.alpha)
        rank = check_positive_int(self.rank, "rank")
        check_positive_int(self.max_iter, "max_iter")
        tol = check_positive(self.tol, "tol")
        Y = np.array(X, dtype=np.float64)
        if Y.ndim != 2:
            raise ValueError(f"X must be a 2-D matrix, got {Y.ndim} dimension(s).")
        if mask is None:
            mask = ~np.isnan(Y)
        else:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != Y.shape:
                raise ValueError(f"mask has shape {mask.shape}, X has shape {Y.shape}.")
        if np.any(np.isnan(Y[mask])) or np.any(np.isinf(Y[mask])):
            raise ValueError("observed entries of X must be finite.")
        empty_rows = np.flatnonzero(~mask.any(axis=1))
        empty_cols = np.flatnonzero(~mask.any(axis=0))
        if empty_rows.size or empty_cols.size:
            raise ValueError(
                f"the mask leaves {empty_rows.size} row(s) and {empty_cols.size} column(s) with no "
                f"observed entry (rows {empty_rows[:5].tolist()}, columns "
                f"{empty_cols[:5].tolist()}); such a row or column cannot be completed: drop it."
            )
        if rank > min(Y.shape):
            raise ValueError(f"rank must be <= min(X.shape) = {min(Y.shape)}, got {rank}.")
        Y = np.where(mask, Y, 0.0)
        rng = np.random.default_rng(self.random_state)
        U, V, nit = fit_factorized(Y, mask, alpha, rank, rng=rng, max_iter=self.max_iter)
        U, V, s = balance(U, V, floor=1e-10 * max(np.linalg.norm(Y, 2), alpha))
        M = U @ V.T
        R = np.where(mask, Y - M, 0.0)
        op = float(np.linalg.norm(R, 2))
        root = np.sqrt(s[s > 0])
        A, B = U[:, s > 0] / root, V[:, s > 0] / root  # the live singular vectors
        on = A.T @ R @ B - alpha * np.eye(root.size)
        self.U_, self.V_, self.completed_ = U, V, M
        self.singular_values_ = s
        self.n_iter_ = nit
        self.mask_ = mask
        zero = float(np.maximum(op - alpha, 0.0))  # NaN stays NaN
        kkt = float(np.max([np.max(np.abs(on), initial=0.0), zero]))
        self.certificate_ = Certificate(
            problem=f"nuclear-norm matrix completion, {alpha:g} ||M||_*",
            network_objective=float(factorized_objective((U, V), Y, mask, alpha)),
            sparse_objective=nuclear_objective(Y, mask, M, alpha),
            duality_gap=nuclear_duality_gap(Y, mask, M, alpha),
            kkt_violation=kkt,
            zero_set_violation=zero,
            converged=bool(kkt <= tol * alpha),
        )
        _warn_if(not self.certificate_.converged, type(self).__name__)
        return self

    def fit_transform(self, X, y=None, *, mask=None):
        """``fit(X, y, mask=mask)``, then ``completed_``."""
        return self.fit(X, y, mask=mask).completed_


# ----------------------------------------------------------------------------- paths and CV
def hadamard_path(
    X, y, alphas=None, n_alphas=100, eps=1e-3, depth=2, fit_intercept=True, strategy="warm",
    tol=1e-8,
):  # fmt: skip
    """Fit the depth-``depth`` network for many alphas; return ``(alphas, coefs, certificates)``.

    ``coefs`` has shape ``(n_features, n_alphas)`` (scikit-learn's ``lasso_path`` convention).
    ``alphas=None``: ``n_alphas`` values from ``alpha_max = max |x_j^T y| / n`` down to
    ``eps * alpha_max``; an int: that many such values (scikit-learn >= 1.7's convention);
    otherwise the alphas themselves, in the given order, each finite and > 0. ``X`` (2-D) and ``y``
    (1-D, same length) must be finite. ``strategy``: ``"warm"`` (warm starts, the default: faster in
    ``benchmarks/bench_lasso_path.py``) or ``"vmap"`` (all alphas batched, depth 2 only).
    With ``fit_intercept`` the data are centred first. Each certificate is judged as
    ``HadamardLasso(alpha, depth, tol=tol)`` judges its own: converged when the KKT violation is at
    most ``tol * alpha`` plus its rounding level (``equivalence.solvers.kkt_floor``).
    """
    depth = _check_depth(depth)
    tol = check_positive(tol, "tol")
    if strategy not in ("warm", "vmap"):
        raise ValueError(f"strategy must be 'warm' or 'vmap', got {strategy!r}.")
    if strategy == "vmap" and depth != 2:
        raise ValueError("strategy='vmap' is implemented for depth=2 only.")
    X, y = check_Xy(X, y)
    Xc, yc, xm, ym = _center(X, y, fit_intercept)
    alphas = _path_alphas(alphas, n_alphas, eps, Xc, yc)
    if strategy == "warm":
        coefs, results = path_warm(Xc, yc, alphas, depth=depth)
    else:
        coefs, results = path_vmap(Xc, yc, alphas)
    penalty = L1() if depth == 2 else Bridge(depth)
    certs = []
    for a, b, res in zip(alphas, coefs, results, strict=True):
        intercept = ym - float(xm @ b)
        layers = balanced_layers(b, depth)
        certs.append(
            _quadratic_certificate(
                X, y, Xc, yc, b, intercept, layers, a, penalty, 0.0, res, tol * a
            )
        )
    return alphas, coefs.T, certs


class HadamardLassoCV(_HadamardRegressor):
    """``HadamardLasso`` with alpha chosen by K-fold cross-validation along a path.

    ``strategy="warm"`` (default) solves each fold's path by following the network's stationary
    points (``equivalence.path.lasso_path_active``); ``"vmap"`` (depth 2) trains every (fold,
    alpha) network in one batched program and finishes each exactly. Both give the same
    coefficients; ``benchmarks/bench_lasso_path.py`` times them (the warm route is faster).

    ``alphas``: ``None`` (``n_alphas`` values from ``alpha_max`` down to ``eps * alpha_max``), an
    int (that many such values, like scikit-learn >= 1.7's ``LassoCV(alphas=100)``), or the values
    to try, each finite and > 0 (else ``ValueError``).

    Attributes: ``alpha_``, ``alphas_``, ``mse_path_`` (``(n_alphas, n_folds)``), ``coef_``,
    ``intercept_``, ``layers_``, ``certificate_`` (of the refit on all data at ``alpha_``).
    """

    def __init__(
        self, alphas=None, n_alphas=100, eps=1e-3, cv=5, depth=2, fit_intercept=True, tol=1e-8,
        max_iter=1000, strategy="warm",
    ):  # fmt: skip
        self.strategy = strategy
        self.alphas = alphas
        self.n_alphas = n_alphas
        self.eps = eps
        self.cv = cv
        self.depth = depth
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, X, y):
        depth = _check_depth(self.depth)
        check_positive_int(self.max_iter, "max_iter")  # those of HadamardLasso (alpha is chosen)
        check_positive(self.tol, "tol")
        X, y = self._validate(X, y)
        Xc, yc, _, _ = _center(X, y, self.fit_intercept)
        alphas = np.sort(_path_alphas(self.alphas, self.n_alphas, self.eps, Xc, yc))[::-1]
        if self.strategy not in ("warm", "vmap"):
            raise ValueError(f"strategy must be 'warm' or 'vmap', got {self.strategy!r}.")
        if self.strategy == "vmap" and depth != 2:
            raise ValueError("strategy='vmap' is implemented for depth=2 only.")
        folds = list(check_cv(self.cv).split(X, y))
        centred = [_center(X[tr], y[tr], self.fit_intercept) for tr, _ in folds]
        if self.strategy == "vmap":
            fold_coefs = path_vmap_folds([(Xt, yt) for Xt, yt, _, _ in centred], alphas)[0]
        else:
            fold_coefs = [path_warm(Xt, yt, alphas, depth=depth)[0] for Xt, yt, _, _ in centred]
        mse = np.empty((alphas.size, len(folds)))
        for k, ((_, te), (_, _, xm, ym)) in enumerate(zip(folds, centred, strict=True)):
            coefs = fold_coefs[k]
            pred = X[te] @ coefs.T + (ym - coefs @ xm)[None, :]
            mse[:, k] = np.mean((y[te][:, None] - pred) ** 2, axis=0)
        self.alphas_ = alphas
        self.mse_path_ = mse
        self.alpha_ = float(alphas[np.argmin(mse.mean(axis=1))])
        penalty = L1() if depth == 2 else Bridge(depth)
        return self._fit_quadratic(X, y, self.alpha_, penalty, 0.0)
