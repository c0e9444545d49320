"""Certificates: how close a fitted network is to the optimum of the sparse model it equals.

Every fit carries a ``Certificate``: the network objective evaluated on the layers, the equivalent
sparse objective evaluated on their product (equal when the layers are balanced), the relative
duality gap where the problem is convex, the KKT violation, and the zero-set condition.

Duality gaps use the rescaled residual (the dual point is the residual divided by
``max(n alpha, dual norm of X^T r)``, which makes it feasible):

* Lasso / elastic net ``P(b) = ||r||^2/(2n) + (l2/2)||b||^2 + alpha ||b||_1``; the elastic net is
  the
  Lasso on ``[X; sqrt(n l2) I]``, ``[y; 0]``;
* group lasso: the dual norm is ``max_g ||X_g^T theta|| / sqrt(|g|)``;
* logistic: ``D(theta) = mean binary entropy of y - theta`` with ``||X^T theta||_inf <= n alpha``
  and ``sum theta = 0`` (the intercept; see ``logistic_duality_gap`` for the feasible point);
* nuclear norm: the dual point is the observed residual scaled to operator norm ``<= alpha``.

The relative gap is ``(P - D) / P``; NaN when ``P`` or ``D`` is not finite. A certificate whose
objectives or violations are not finite certifies nothing: its gap is NaN, ``converged`` False.

The bridge penalties (depth ``k >= 3``) are non-convex: no dual, so ``duality_gap`` is NaN, and the
certificate is local. It checks first-order stationarity on the support, the coordinate-wise global
zero-set condition off it, and the second-order condition on the support
(``support_curvature``, the smallest eigenvalue of the Hessian there: negative is a saddle). It does
not certify a global minimum.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import scipy.special


@dataclass(frozen=True)
class Certificate:
    """A fitted network's distance to the optimum of its equivalent sparse problem.

    Equality is field by field with NaN equal to NaN (NaN marks "not applicable": the duality gap
    of a non-convex problem, the support curvature of a convex one), so two fits that give the
    same numbers give equal certificates.
    """

    problem: str  # the equivalent problem, with its alpha scaling
    network_objective: float  # on the layers: loss + (alpha/2) * sum of squares of all weights
    sparse_objective: float  # on the product beta: loss + the sparse penalty
    duality_gap: float  # relative, (P - D) / P; nan where there is no convex dual (depth >= 3)
    kkt_violation: float  # max distance of the gradient to the subdifferential (or stationarity)
    zero_set_violation: float  # off the support: max (|g_j| - threshold_j)_+
    exact_step_change: float = 0.0  # relative move of the final exact step from the network's beta
    converged: bool = True
    # bridge only: smallest eigenvalue of the sparse objective's Hessian on the support (< 0: a
    # saddle, not converged; inf for an empty support); nan for the convex problems
    support_curvature: float = float("nan")

    def __post_init__(self):
        measured = (
            self.network_objective,
            self.sparse_objective,
            self.kkt_violation,
            self.zero_set_violation,
        )
        if not np.all(np.isfinite(measured)):
            object.__setattr__(self, "duality_gap", float("nan"))
            object.__setattr__(self, "converged", False)

    def _key(self):
        return tuple(
            "nan" if isinstance(v, float) and np.isnan(v) else v
            for v in (getattr(self, f.name) for f in fields(self))
        )

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def as_dict(self):
        return asdict(self)

    def __str__(self):
        if not np.isnan(self.duality_gap):
            gap = f"{self.duality_gap:.2e}"
        elif np.isfinite(self.sparse_objective):
            gap = "n/a (non-convex)"
        else:
            gap = "nan (non-finite objective)"
        curvature = (
            "" if np.isnan(self.support_curvature)
            else f", support curvature {self.support_curvature:.2e}"
        )  # fmt: skip
        return (
            f"Certificate({self.problem}: network {self.network_objective:.12g}, "
            f"sparse {self.sparse_objective:.12g}, rel. gap {gap}, KKT {self.kkt_violation:.2e}, "
            f"zero set {self.zero_set_violation:.2e}{curvature}, "
            f"exact step {self.exact_step_change:.1e})"
        )


def _relative_gap(primal, dual):
    """``(P - D) / P``: 0 when ``P = 0`` (zero problem), NaN when ``P`` or ``D`` is not finite."""
    if not (np.isfinite(primal) and np.isfinite(dual)):
        return float("nan")
    return float((primal - dual) / primal) if primal > 0 else 0.0


def lasso_duality_gap(X, y, beta, alpha, ridge=0.0, dual_norm=None):
    """Relative duality gap of ``||y - X b||^2/(2n) + (ridge/2)||b||^2 + penalty`` (centred data).

    ``dual_norm`` maps ``X^T r`` to the dual norm of the penalty at weight 1 (default: max |.|, the
    Lasso; pass the group version for the group lasso). ``alpha`` multiplies the penalty.
    """
    n = X.shape[0]
    r = y - X @ beta
    xr = X.T @ r - n * ridge * beta  # the augmented design's X~^T r~
    dn = np.max(np.abs(xr), initial=0.0) if dual_norm is None else dual_norm(xr)
    if dual_norm is None:
        pen = alpha * np.sum(np.abs(beta))
    else:
        pen = alpha * dual_norm.primal(beta)
    rr = r @ r + n * ridge * beta @ beta
    primal = 0.5 * rr / n + pen
    scale = max(n * alpha, dn)
    # D(theta) = ||y||^2/(2n) - (n alpha^2/2) ||theta - y~/(n alpha)||^2, theta = r~/scale
    diff = r / scale - y / (n * alpha)
    dist2 = diff @ diff + n * ridge * (beta @ beta) / scale**2
    dual = 0.5 * (y @ y) / n - 0.5 * n * alpha**2 * dist2
    return _relative_gap(primal, dual)


class GroupDualNorm:
    """``max_g ||v_g|| / sqrt(|g|)`` and its primal ``sum_g sqrt(|g|) ||b_g||``."""

    def __init__(self, groups):
        self.groups = groups
        self.sizes = np.bincount(groups).astype(float)

    def _norms(self, v):
        return np.sqrt(np.bincount(self.groups, weights=v * v, minlength=self.sizes.size))

    def __call__(self, v):
        return float(np.max(self._norms(v) / np.sqrt(self.sizes)))

    def primal(self, b):
        return float(np.sum(np.sqrt(self.sizes) * self._norms(b)))


def _entropy(q):
    q = np.clip(q, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(q > 0, q * np.log(q), 0.0) - np.where(q < 1, (1 - q) * np.log1p(-q), 0.0)
    return h


def logistic_duality_gap(X, y01, beta, intercept, alpha):
    """Relative gap of ``mean log-loss + alpha ||b||_1`` (labels 0/1, unpenalised intercept).

    ``D(theta) = mean H(y - theta)`` (``H`` the binary entropy) is a lower bound on the optimum for
    every ``theta`` with ``y - theta`` in [0, 1], ``sum theta = 0`` (the intercept's constraint) and
    ``||X^T theta||_inf <= n alpha``. From the residual ``rho = y - sigmoid(z)``:

    1. ``t0 = (1 - t)(y - ybar) + t (rho - mean(rho))`` sums to zero; ``y - t0 = (1 - t) ybar +
       t (sigmoid(z) + mean(rho))``, and ``t`` is the largest value in [0, 1] keeping it in [0, 1]
       (``t > 0`` when both labels occur: ``y - ybar`` is the intercept-only model's residual);
    2. ``theta = t0 / max(1, ||X^T t0||_inf / (n alpha))``: ``y - theta`` is a convex combination
       of ``y`` and ``y - t0``, so it stays in [0, 1], and the sum stays zero.

    So ``P - D(theta) >= P - P*`` at any ``(beta, intercept)``. At the optimum ``mean(rho) = 0``
    (the intercept's stationarity), ``t = 1`` and ``theta`` is the scaled residual: the gap is 0.
    """
    n = X.shape[0]
    z = X @ beta + intercept
    loss = np.mean(np.logaddexp(0.0, z) - y01 * z)
    primal = loss + alpha * np.sum(np.abs(beta))
    ybar = np.mean(y01)
    rho = y01 - scipy.special.expit(z)
    q = y01 - rho + np.mean(rho)  # y - t0 at t = 1
    with np.errstate(divide="ignore", invalid="ignore"):
        t_hi = np.where(q > 1.0, (1.0 - ybar) / (q - ybar), np.inf)
        t_lo = np.where(q < 0.0, ybar / (ybar - q), np.inf)
    t = min(1.0, float(np.min(t_hi, initial=np.inf)), float(np.min(t_lo, initial=np.inf)))
    t0 = (1.0 - t) * (y01 - ybar) + t * (rho - np.mean(rho))
    scale = max(1.0, np.max(np.abs(X.T @ t0), initial=0.0) / (n * alpha))
    dual = np.mean(_entropy(y01 - t0 / scale))
    return _relative_gap(primal, dual)


def nuclear_duality_gap(Y, mask, M, alpha):
    """Relative gap of ``1/2 ||P(Y - M)||_F^2 + alpha ||M||_*`` (``P``: keep the observed entries).

    ``D(T) = 1/2 ||P(Y)||^2 - 1/2 ||P(Y) - T||^2`` for ``T`` supported on the mask with
    ``||T||_op <= alpha``; ``T`` is the observed residual scaled down to that ball.
    """
    Yo = np.where(mask, Y, 0.0)
    R = np.where(mask, Y - M, 0.0)
    sv = np.linalg.svd(M, compute_uv=False)
    primal = 0.5 * np.sum(R * R) + alpha * np.sum(sv)
    op = np.linalg.norm(R, 2)
    T = R / max(1.0, op / alpha)
    dual = 0.5 * np.sum(Yo * Yo) - 0.5 * np.sum((Yo - T) ** 2)
    return _relative_gap(primal, dual)
