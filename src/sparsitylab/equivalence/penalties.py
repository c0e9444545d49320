"""The sparse penalties that Hadamard networks with weight decay are equal to.

A depth-``k`` Hadamard network writes each coefficient as a product ``beta_j = w1_j * ... * wk_j``
and
pays ``(alpha / 2) * sum of squares of all w``. At a *balanced* point (``|w1_j| = ... = |wk_j|``),
which
every minimizer is, that penalty equals a penalty on ``beta`` alone (see ``docs/equivalence.md``):

* ``L1``: depth 2, ``alpha * ||beta||_1`` (scikit-learn ``Lasso(alpha)``);
* ``Bridge(k)``: depth ``k >= 3``, ``(alpha k / 2) * sum |beta_j|^(2/k)`` (skglm ``L2_3(1.5
  alpha)`` for
  ``k = 3``, ``L0_5(2 alpha)`` for ``k = 4``);
* ``GroupL1``: a scalar gate per group times a vector, ``alpha * sum_g sqrt(|g|) ||beta_g||_2``.

Every class here is plain numpy: values, the stationarity residual on the support, the distance of a
gradient to the subdifferential off the support, and the balanced factorisation into layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class L1:
    """``alpha * ||beta||_1``: the balanced depth-2 Hadamard penalty."""

    depth: int = 2
    name: str = "lasso"

    def value(self, beta, alpha):
        return alpha * float(np.sum(np.abs(beta)))

    def derivative(self, beta_s, alpha):
        """Gradient of the penalty on the support (``beta_s != 0``)."""
        return alpha * np.sign(beta_s)

    def curvature(self, beta_s, alpha):
        return np.zeros_like(beta_s)

    def zero_threshold(self, alpha, lipschitz):
        """``|g_j|`` above which ``beta_j = 0`` is not optimal: the Lasso KKT bound ``alpha``."""
        return np.full_like(np.asarray(lipschitz, dtype=float), alpha)

    def coordinate_minimizer(self, g, alpha, lipschitz):
        """Best value of one coordinate that is now zero, given the gradient ``g = x_j^T r / n``."""
        return np.sign(g) * np.maximum(np.abs(g) - alpha, 0.0) / lipschitz


@dataclass(frozen=True)
class Bridge:
    """``(alpha k / 2) * sum |beta_j|^(2/k)``: the balanced depth-``k`` Hadamard penalty, ``k >=
    3``.

    Non-convex (``p = 2/k < 1``); ``beta_j = 0`` is always a local minimum, so the useful zero-set
    condition is the *coordinate-wise global* one: zero beats every non-zero value of ``beta_j``
    with the others held fixed iff ``|g_j| <= tau_j`` (``zero_threshold``).
    """

    depth: int = 3
    name: str = "bridge"

    @property
    def power(self):
        return 2.0 / self.depth

    def weight(self, alpha):
        """The multiplier ``lambda = alpha k / 2`` of ``sum |beta|^p`` (skglm's ``alpha``)."""
        return alpha * self.depth / 2.0

    def value(self, beta, alpha):
        return self.weight(alpha) * float(np.sum(np.abs(beta) ** self.power))

    def derivative(self, beta_s, alpha):
        p = self.power
        return self.weight(alpha) * p * np.sign(beta_s) * np.abs(beta_s) ** (p - 1.0)

    def curvature(self, beta_s, alpha):
        p = self.power
        return self.weight(alpha) * p * (p - 1.0) * np.abs(beta_s) ** (p - 2.0)

    def zero_threshold(self, alpha, lipschitz):
        """``tau = min_{b>0} (L b / 2 + lambda b^(p-1))
        = (2-p)/(2(1-p)) (2 lambda (1-p))^(1/(2-p)) L^((1-p)/(2-p))``.

        ``beta_j = 0`` is the coordinate-wise global minimiser iff ``|g_j| <= tau_j``, where
        ``L_j = ||x_j||^2 / n`` is the coordinate's curvature. ``L_j = 0`` (a zero column) gives
        ``tau_j = 0``, the limit and the infimum: zero is optimal there iff ``g_j = 0``, as it is.
        """
        p, lam = self.power, self.weight(alpha)
        L = np.asarray(lipschitz, dtype=float)
        const = (2.0 - p) / (2.0 * (1.0 - p)) * (2.0 * lam * (1.0 - p)) ** (1.0 / (2.0 - p))
        return const * L ** ((1.0 - p) / (2.0 - p))

    def coordinate_minimizer(self, g, alpha, lipschitz):
        """Largest root of ``L b - |g| + lambda p b^(p-1) = 0`` where it beats zero, else 0."""
        p, lam = self.power, self.weight(alpha)
        L = np.asarray(lipschitz, dtype=float)
        a = np.abs(g)
        b = a / L
        for _ in range(60):  # Newton from the right: the function is convex and decreasing there
            f = L * b - a + lam * p * b ** (p - 1.0)
            df = L + lam * p * (p - 1.0) * b ** (p - 2.0)
            b = np.maximum(b - f / np.where(df > 0, df, np.inf), 0.5 * b)
        gain = -a * b + 0.5 * L * b * b + lam * b**p  # change of the objective vs. zero
        return np.where((a > self.zero_threshold(alpha, L)) & (gain < 0), np.sign(g) * b, 0.0)


@dataclass(frozen=True)
class GroupL1:
    """``alpha * sum_g sqrt(|g|) ||beta_g||_2`` (``groups``: one group id per feature, 0..G-1)."""

    groups: np.ndarray
    depth: int = 2
    name: str = "group lasso"

    @property
    def n_groups(self):
        return int(self.groups.max()) + 1

    @property
    def sizes(self):
        return np.bincount(self.groups, minlength=self.n_groups).astype(float)

    def norms(self, beta):
        return np.sqrt(np.bincount(self.groups, weights=beta * beta, minlength=self.n_groups))

    def value(self, beta, alpha):
        return alpha * float(np.sum(np.sqrt(self.sizes) * self.norms(beta)))


def balanced_layers(beta, depth):
    """The balanced factorisation: ``|w_l| = |beta|^(1/k)`` for every layer, the sign in layer 1."""
    beta = np.asarray(beta, dtype=float)
    mag = np.abs(beta) ** (1.0 / depth)
    layers = np.tile(mag, (depth, 1))
    layers[0] = np.sign(beta) * mag
    return layers


def balanced_group_layers(beta, groups):
    """Gated factorisation ``beta_g = s_g z_g`` with ``|g| s_g^2 = ||z_g||^2`` (balanced).

    Returns ``(gates, weights)``: one gate per group, one weight per feature.
    """
    beta = np.asarray(beta, dtype=float)
    sizes = np.bincount(groups).astype(float)
    norms = np.sqrt(np.bincount(groups, weights=beta * beta, minlength=sizes.size))
    gates = np.sqrt(norms / np.sqrt(sizes))
    safe = np.where(gates > 0, gates, 1.0)
    return gates, np.where(gates[groups] > 0, beta / safe[groups], 0.0)
