"""Regularisation paths of Hadamard networks: warm starts (default) or all alphas batched by
``vmap``.

``alpha_grid`` is scikit-learn's: ``alpha_max = max_j |x_j^T y| / n`` (the smallest alpha whose
Lasso
solution is 0; below it the saddle at zero has an escape direction) down to ``eps * alpha_max`` on a
log scale.

Two strategies, measured against each other in ``benchmarks/bench_lasso_path.py``:

* ``"warm"``: one alpha after the other, each network started from the previous solution's balanced
  layers; the working set carries over, so only the features that enter are trained afresh.
* ``"vmap"``: every alpha's network trained at once on all features by ``optax.lbfgs`` under
  ``jax.vmap`` (one compiled program, a fixed number of steps), each then finished and checked like
  a single fit (a fit whose check fails is finished by the working-set solver).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.linalg

from sparsitylab.equivalence._threads import single_threaded_blas
from sparsitylab.equivalence._validation import (
    check_alphas,
    check_positive,
    check_positive_int,
    check_Xy,
)
from sparsitylab.equivalence.networks import varpro_layers, varpro_objective
from sparsitylab.equivalence.penalties import L1
from sparsitylab.equivalence.solvers import (
    SolveResult,
    _identify,
    _lasso_exact,
    fit_bridge,
    fit_quadratic,
)


def alpha_grid(X, y, n_alphas=100, eps=1e-3, l1_ratio=1.0):
    """``n_alphas`` (>= 1) geometric values from ``alpha_max`` to ``eps * alpha_max``, ``eps`` in
    (0, 1] (centred data)."""
    X, y = check_Xy(X, y)
    n_alphas = check_positive_int(n_alphas, "n_alphas")
    eps = check_positive(eps, "eps", upper=1.0)
    l1_ratio = check_positive(l1_ratio, "l1_ratio", upper=1.0)
    n = X.shape[0]
    alpha_max = float(np.max(np.abs(X.T @ y))) / (n * l1_ratio)
    if alpha_max <= 0:
        alpha_max = 1.0
    return np.geomspace(alpha_max, alpha_max * eps, n_alphas)


class _GramColumns:
    """Columns ``G[:, j] = X^T x_j / n + ridge e_j`` of the Gram matrix, computed once, in blocks.

    Small problems keep the whole matrix; wide ones (``p > 1000``) only the columns of features
    that have entered the working set, so the cost is ``n p`` per feature that ever enters.
    """

    def __init__(self, X, ridge):
        self.X, self.ridge = X, ridge
        self.n, p = X.shape
        self.pos = np.full(p, -1)
        if p <= 1000:
            self.cols = X.T @ X / self.n + ridge * np.eye(p)
            self.pos[:] = np.arange(p)
            self.count = p
        else:
            self.cols = np.empty((p, 64))
            self.count = 0

    def ensure(self, S):
        new = S[self.pos[S] < 0]
        if new.size == 0:
            return
        need = self.count + new.size
        if need > self.cols.shape[1]:
            grown = np.empty((self.cols.shape[0], max(need, 2 * self.cols.shape[1])))
            grown[:, : self.count] = self.cols[:, : self.count]
            self.cols = grown
        block = self.X.T @ self.X[:, new] / self.n
        block[new, np.arange(new.size)] += self.ridge
        self.cols[:, self.count : need] = block
        self.pos[new] = np.arange(self.count, need)
        self.count = need

    def gradient(self, c, S, B):
        """``c - G[:, S] @ B`` for coefficient columns ``B`` (``|S| x K``), without copying G."""
        full = np.zeros((self.count, B.shape[1]))
        full[self.pos[S]] = B
        return c[:, None] - self.cols[:, : self.count] @ full

    def block(self, S):
        return self.cols[np.ix_(S, self.pos[S])]


def _solve_on_support(gram, c, S, s, alphas):
    """Stationarity of the balanced network on support ``S``, signs ``s``, for each alpha.

    ``G_SS b = c_S - alpha s_S`` (one Cholesky factorisation, one solve for all alphas); returns
    ``B`` (``|S| x K``) and ``g = c - G[:, S] B`` (``p x K``), or ``None`` if ``G_SS`` is singular.
    """
    if S.size == 0:
        return np.zeros((0, alphas.size)), np.repeat(c[:, None], alphas.size, axis=1)
    try:
        factor = scipy.linalg.cho_factor(gram.block(S), check_finite=False)
    except np.linalg.LinAlgError:
        return None
    rhs = c[S][:, None] - s[:, None] * alphas[None, :]
    B = scipy.linalg.cho_solve(factor, rhs, check_finite=False)
    return B, gram.gradient(c, S, B)


def _certified(S, s, B, g, alphas, kkt_rel):
    """Per alpha: do the signs hold on ``S`` and the saddle condition ``|g_j| <= alpha`` off it?"""
    signs_ok = np.all(s[:, None] * B > 0, axis=0)
    off = np.abs(g)
    off[S] = 0.0
    return signs_ok & (off.max(axis=0, initial=0.0) <= alphas * (1.0 + kkt_rel))


@single_threaded_blas
def lasso_path_active(X, y, alphas, ridge=0.0, *, chunk=8, max_rounds=30, kkt_rel=1e-10):
    """The depth-2 network's path along decreasing ``alphas``: exact stationary points, certified.

    On a fixed support ``S`` and sign pattern ``s`` the balanced network's stationary point is the
    solution of ``G_SS b = c_S - alpha s_S``: one factorisation serves a whole stretch of the path.
    Each alpha is accepted only when its KKT conditions hold (signs on the support, the saddle
    condition ``|x_j^T r| / n <= alpha`` of every zero weight pair off it). Where they fail, the
    support changes: features whose zero pair has become a saddle join with the sign of its escape
    direction (``sign(g_j)``), coefficients that crossed zero leave, and the system is solved again.
    If that does not settle within ``max_rounds``, the network is trained on its working sets
    (``fit_quadratic``) from the last estimate. Returns ``(coefs, results)`` like ``path_warm``.
    """
    X, y = check_Xy(X, y)
    alphas = check_alphas(alphas)
    n, p = X.shape
    c = X.T @ y / n
    gram = _GramColumns(X, ridge)
    S = np.zeros(0, dtype=int)
    s = np.zeros(0)
    coefs = np.zeros((alphas.size, p))
    results = [None] * alphas.size
    k = 0
    while k < alphas.size:
        # 1. extend the current stretch as far as its certificate holds
        stop = min(k + chunk, alphas.size)
        sol = _solve_on_support(gram, c, S, s, alphas[k:stop])
        if sol is not None:
            B, g = sol
            ok = _certified(S, s, B, g, alphas[k:stop], kkt_rel)
            n_ok = int(np.argmin(ok)) if not ok.all() else ok.size
            for i in range(n_ok):
                coefs[k + i, S] = B[:, i]
                results[k + i] = SolveResult(beta=coefs[k + i], converged=True)
            k += n_ok
            if n_ok == ok.size:
                continue
        # 2. alpha k breaks the stretch: change the support until alpha k is certified
        a = alphas[k : k + 1]
        seen = set()
        rounds = 0
        while rounds < max_rounds:
            rounds += 1
            sol = _solve_on_support(gram, c, S, s, a)
            if sol is None:
                break
            B, g = sol
            b, gk = B[:, 0], g[:, 0]
            flipped = s * b <= 0
            off = np.abs(gk)
            off[S] = 0.0
            viol = np.flatnonzero(off > a[0] * (1.0 + kkt_rel))
            if not flipped.any() and viol.size == 0:
                break
            key = (S.tobytes(), s.tobytes())
            if key in seen:  # the support cycles: leave it to the network
                sol = None
                break
            seen.add(key)
            keep = ~flipped
            viol = viol[np.argsort(-off[viol])][: max(10, S.size)]
            S = np.concatenate([S[keep], viol])
            s = np.concatenate([s[keep], np.sign(gk[viol])])
            gram.ensure(S)
        else:  # max_rounds reached
            sol = None
        if sol is None:  # train the network on its working sets from the last estimate
            beta0 = coefs[k - 1] if k else None
            res = fit_quadratic(X, y, a[0], L1(), ridge=ridge, beta0=beta0)
            S = np.flatnonzero(res.beta)
            s = np.sign(res.beta[S])
            gram.ensure(S)
            coefs[k] = res.beta
            results[k] = res
            k += 1
            continue
        coefs[k, S] = b
        results[k] = SolveResult(beta=coefs[k], n_outer=rounds, converged=True)
        k += 1
    return coefs, results


@single_threaded_blas
def path_warm(X, y, alphas, depth=2, ridge=0.0):
    """Warm-started path; returns coefficients ``(n_alphas, p)`` and the solver results.

    Depth 2 follows the network's stationary points along the path (``lasso_path_active``); deeper
    networks start each alpha's bridge fit from the Lasso solution at the same alpha.
    """
    lasso, results = lasso_path_active(X, y, alphas, ridge=ridge)
    if depth == 2:
        return lasso, results
    coefs, results = [], []
    for a, b in zip(alphas, lasso, strict=True):
        res = fit_bridge(X, y, a, depth, ridge=ridge, beta_lasso=b, starts=(1.0,))
        coefs.append(res.beta)
        results.append(res)
    return np.array(coefs), results


def _batched_network(n_steps):
    """One compiled program: L-BFGS on the variable-projection network for every (fold, alpha)."""
    opt = optax.lbfgs()

    def solve_one(alpha, G, c, gid, w, v0):
        def f(V):
            return varpro_objective(V, G, c, alpha, gid, w)

        vg = optax.value_and_grad_from_state(f)

        def step(carry, _):
            V, state = carry
            val, grad = vg(V, state=state)
            upd, state = opt.update(grad, state, V, value=val, grad=grad, value_fn=f)
            return (optax.apply_updates(V, upd), state), None

        (V, _), _ = jax.lax.scan(step, (v0, opt.init(v0)), None, length=n_steps)
        return varpro_layers(V, G, c, alpha, gid)[1]

    over_alphas = jax.vmap(solve_one, in_axes=(0, None, None, None, None, None))
    return jax.jit(jax.vmap(over_alphas, in_axes=(None, 0, 0, None, None, 0)))


_BATCHED = {}


def _finish(X, y, G, c, b_net, alpha, kkt_rel=1e-10):
    """The exact step on the network's support and signs, certified by the KKT conditions; a fit
    whose check fails is finished by the working-set solver."""
    b = _lasso_exact(G, c, _identify(b_net, np.arange(c.size)), alpha)
    S = np.flatnonzero(b)
    g = (c - G @ b)[:, None]
    if _certified(S, np.sign(b[S]), b[S][:, None], g, np.array([alpha]), kkt_rel)[0]:
        return SolveResult(beta=b, converged=True)
    return fit_quadratic(X, y, alpha, L1(), beta0=b)


@single_threaded_blas
def path_vmap_folds(problems, alphas, n_steps=200):
    """Every (problem, alpha) network at once (depth 2): ``problems`` is a list of centred
    ``(X, y)`` with the same ``p`` (the folds of a cross-validation). Batched L-BFGS on all
    features under two ``vmap`` levels (one compiled program), then each result finished exactly
    and checked. Returns ``coefs`` (``(n_problems, n_alphas, p)``) and the solver results."""
    problems = [check_Xy(X, y) for X, y in problems]
    alphas = check_alphas(alphas)
    grams = [(X.T @ X / X.shape[0], X.T @ y / X.shape[0]) for X, y in problems]
    G = np.stack([g for g, _ in grams])
    c = np.stack([cc for _, cc in grams])
    p = G.shape[1]
    v0 = np.sqrt(np.abs(c) / np.maximum(np.einsum("fjj->fj", G), 1e-300))[:, None, :]
    if n_steps not in _BATCHED:
        _BATCHED[n_steps] = _batched_network(n_steps)
    nets = np.asarray(_BATCHED[n_steps](jnp.asarray(alphas), G, c, jnp.arange(p), jnp.ones(p), v0))
    coefs = np.zeros((len(problems), len(alphas), p))
    results = []
    for f, (X, y) in enumerate(problems):
        row = []
        for i, a in enumerate(alphas):
            res = _finish(X, y, G[f], c[f], nets[f, i], a)
            coefs[f, i] = res.beta
            row.append(res)
        results.append(row)
    return coefs, results


def path_vmap(X, y, alphas, n_steps=200):
    """All alphas at once (depth 2): batched L-BFGS on the full network, then the exact finish."""
    coefs, results = path_vmap_folds([(X, y)], alphas, n_steps)
    return coefs[0], results[0]
