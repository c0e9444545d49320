"""Solvers for Hadamard networks with the squared loss: working sets, variable projection, exact
finish.

``fit_quadratic`` trains the network ``beta = w1 * ... * wk`` with weight decay ``alpha`` on the
(centred) data. The network's own geometry makes this fast (``docs/equivalence.md``, section 5):

1. ``w = 0`` is a stationary point of every weight of a feature; for depth 2 its Hessian block
   ``[[alpha, -g_j], [-g_j, alpha]]`` (``g_j = x_j^T r / n``) has a negative eigenvalue exactly when
   ``|g_j| > alpha``, the Lasso KKT condition. So the network is trained on a *working set* of
   features, the saddle condition is checked on all the others, and violators join the set, started
   along the escape direction at the best one-coordinate value.
2. On the working set the network is trained by L-BFGS in variable-projection form
   (``networks.varpro_objective``): the first layer is a closed-form ridge for fixed gates.
3. Once the network has identified the support and the signs, the stationarity equations of the
   *balanced* network on that support are solved exactly: a linear system for depth 2
   (``G_SS beta_S = c_S - alpha s_S``), a sign-preserving Newton iteration for the bridge and group
   penalties. The move this makes is recorded (``exact_step_change``) and the result is checked by
   the
   certificate on *all* features; if the check fails, the loop goes back to step 1.

``fit_variational`` is Hoff's route for the Lasso: ``|b| = min_{a>0} (b^2/a + a)/2``, alternating a
closed-form ridge in ``b`` with ``a = |b|``, finished by the same exact step.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.optimize

from sparsitylab.equivalence._threads import single_threaded_blas
from sparsitylab.equivalence._validation import check_alpha, check_Xy
from sparsitylab.equivalence.networks import _varpro_value_and_grad, bucket, varpro_layers
from sparsitylab.equivalence.penalties import L1, Bridge, GroupL1


@dataclass
class SolveResult:
    """What a solver returns: ``beta`` (exact zeros off the support) and how it got there."""

    beta: np.ndarray
    n_iter: int = 0  # L-BFGS iterations on the network (or variational sweeps)
    n_outer: int = 0  # working-set rounds
    exact_step_change: float = 0.0  # ||beta_exact - beta_network|| / ||beta_exact||, last round
    converged: bool = False
    history: list = field(default_factory=list)


# ----------------------------------------------------------------------------- the network on a set
def train_network(
    G, c, alpha, depth, beta_init, gid, gate_weight, *, max_iter=1000, gtol=1e-10, patience=2
):
    """Train the depth-``depth`` network on one working set; return its product ``beta`` and iters.

    ``G`` (m x m), ``c`` (m,): the working set's Gram matrix and correlations; ``gid`` maps each of
    the m features to one of the working set's gates (``arange(m)`` unless gates are shared by a
    group); ``gate_weight`` is the weight decay multiplier of each gate (group size, or 1).
    The gates start *balanced* with the product ``beta_init``. Training stops at ``gtol``, or once
    the identified support and signs have not changed over ``patience`` checks (one check every 5
    iterations): identification is all the exact finish needs from the network.
    """
    m = G.shape[0]
    n_gates = int(gid.max()) + 1
    mb, gb = bucket(m), bucket(n_gates + 1)
    Gp = np.zeros((mb, mb))
    Gp[:m, :m] = G
    cp = np.zeros(mb)
    cp[:m] = c
    gidp = np.full(mb, n_gates, dtype=np.int32)  # padding features hang on a gate that stays 0
    gidp[:m] = gid
    wp = np.ones(gb)
    wp[:n_gates] = gate_weight
    # balanced start: for a gate shared by a group, |g| s^2 = ||z||^2 and s * ||z|| = ||beta_g||
    size = np.bincount(gid, minlength=n_gates).astype(float)
    norms = np.sqrt(np.bincount(gid, weights=beta_init * beta_init, minlength=n_gates))
    mag = (norms / np.sqrt(size)) ** (1.0 / depth) if depth == 2 else np.abs(norms) ** (1.0 / depth)
    gates0 = np.zeros((depth - 1, gb))
    gates0[:, :n_gates] = mag
    shape = gates0.shape

    def fun(x):
        val, grad = _varpro_value_and_grad(x.reshape(shape), Gp, cp, alpha, gidp, wp)
        return float(val), np.asarray(grad, dtype=float).ravel()

    seen = {"pattern": None, "same": 0, "it": 0}

    def identified(intermediate_result):
        seen["it"] += 1
        if seen["it"] % 5:
            return
        _, b = varpro_layers(intermediate_result.x.reshape(shape), Gp, cp, alpha, gidp)
        pattern = np.sign(_identify(np.asarray(b)[:m], gid))
        if seen["pattern"] is not None and np.array_equal(pattern, seen["pattern"]):
            seen["same"] += 1
        else:
            seen["same"] = 0
        seen["pattern"] = pattern
        if seen["same"] >= patience:
            raise StopIteration

    res = scipy.optimize.minimize(
        fun, gates0.ravel(), jac=True, method="L-BFGS-B", callback=identified,
        options={"maxiter": max_iter, "gtol": gtol, "ftol": 0.0, "maxcor": 20},
    )  # fmt: skip
    _, beta = varpro_layers(res.x.reshape(shape), Gp, cp, alpha, gidp)
    return np.asarray(beta)[:m], int(res.nit)


# ---------------------------------------------------------------------------- exact finishing steps
def solve_psd(A, b):
    """``A x = b`` for a symmetric positive semi-definite ``A``: Cholesky, or, where ``A`` is
    singular or ill-conditioned (duplicated columns, a support larger than the rank of ``X``), the
    minimum-norm least-squares solution ``A^+ b`` (a solution whenever the system has one)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
            return scipy.linalg.solve(A, b, assume_a="pos")
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning):
        return scipy.linalg.lstsq(A, b)[0]


def _lasso_exact(G, c, beta, alpha):
    """Solve ``G_SS b = c_S - alpha s_S`` on the network's support and signs.

    If the solution disagrees with a sign, walk from the network's ``beta`` towards it, stop where
    the first coordinate reaches zero, drop that one feature and solve again (an active-set step:
    each one drops a feature, so it ends). A singular ``G_SS`` (the solution is then not unique)
    gets the minimum-norm solution (``solve_psd``); the caller's KKT check on all features decides.
    """
    S = np.flatnonzero(beta)
    s = np.sign(beta[S])
    x = beta[S].copy()
    out = np.zeros_like(beta)
    while S.size:
        b = solve_psd(G[np.ix_(S, S)], c[S] - alpha * s)
        bad = np.sign(b) != s
        if not bad.any():
            out[S] = b
            break
        t = np.where(bad, x / np.where(bad, x - b, 1.0), np.inf)
        k = int(np.argmin(t))
        x = x + t[k] * (b - x)
        keep = np.arange(S.size) != k
        S, s, x = S[keep], s[keep], x[keep]
    return out


def _newton_on_orthant(f_grad_hess, b, max_iter=100):
    """Minimise a function of ``b`` on the orthant of ``sign(b)`` by damped Newton.

    Coordinates the iteration drives to zero leave the support (they are set to exactly 0). A
    stationary point where the Hessian has a negative eigenvalue (a saddle: e.g. a bridge
    coefficient split between duplicated columns) is left along that eigenvector up to the nearest
    face of the orthant when this lowers the function; the coordinate reaching zero leaves the
    support, and Newton starts again.
    """
    b = _newton_steps(f_grad_hess, b, max_iter)
    while (escaped := _leave_saddle(f_grad_hess, b)) is not None:
        b = _newton_steps(f_grad_hess, escaped, max_iter)
    return b


def negative_curvature(lam):
    """Whether ascending Hessian eigenvalues ``lam`` hold a negative one beyond rounding,
    ``lam_0 < -1e-10 max |lam|``: a stationary point there is a saddle, not a local minimum."""
    return bool(lam.size) and bool(lam[0] < -1e-10 * np.max(np.abs(lam)))


def _leave_saddle(f_grad_hess, b):
    """The better face point along the Hessian's negative-curvature direction, if lower; or None."""
    idx = np.flatnonzero(b)
    if idx.size == 0:
        return None
    f, _, H = f_grad_hess(b, idx)
    lam, vecs = np.linalg.eigh(H)
    if not negative_curvature(lam):
        return None
    best, best_f = None, f
    for d in (vecs[:, 0], -vecs[:, 0]):
        cross = d * np.sign(b[idx]) < 0
        if not cross.any():
            continue
        steps = np.where(cross, -b[idx] / np.where(cross, d, 1.0), np.inf)
        k = int(np.argmin(steps))
        trial = b.copy()
        trial[idx] = b[idx] + steps[k] * d
        trial[idx[k]] = 0.0
        f_new = f_grad_hess(trial, idx, value_only=True)
        if f_new < best_f:
            best, best_f = trial, f_new
    return best


def _newton_steps(f_grad_hess, b, max_iter):
    b = b.copy()
    active = b != 0
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        f, g, H = f_grad_hess(b, idx)
        scale = max(1.0, np.max(np.abs(b[idx])))
        if np.max(np.abs(g)) <= 1e-15 * scale * max(1.0, np.max(np.abs(np.diag(H)))):
            break
        try:
            d = -scipy.linalg.solve(H, g, assume_a="pos")
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            d = -g / np.max(np.abs(np.diag(H)))
        if np.dot(d, g) >= 0:  # not a descent direction (indefinite Hessian): gradient step
            d = -g / np.max(np.abs(np.diag(H)))
        cross = d * np.sign(b[idx]) < 0
        t_max = np.min(np.where(cross, -b[idx] / np.where(cross, d, 1.0), np.inf))
        t = min(1.0, t_max)
        hit = None
        if t_max <= 1.0:  # the full step would leave the orthant: stop at its face
            hit = idx[np.argmin(np.where(cross, -b[idx] / np.where(cross, d, 1.0), np.inf))]
        while True:
            trial = b.copy()
            trial[idx] = b[idx] + t * d
            if hit is not None and t == t_max:
                trial[hit] = 0.0
            f_new = f_grad_hess(trial, idx, value_only=True)
            if f_new <= f + 1e-4 * t * np.dot(g, d) or t < 1e-12:
                break
            t *= 0.5
        converged = np.max(np.abs(trial[idx] - b[idx])) <= 1e-15 * scale
        b = trial
        if hit is not None and b[hit] == 0.0:
            active[hit] = False
        if converged:
            break
    return b


def _bridge_exact(G, c, beta, alpha, penalty):
    """Sign-preserving Newton on the bridge stationarity equations on the support."""
    p, lam = penalty.power, penalty.weight(alpha)

    def fgh(b, idx, value_only=False):
        bs = b[idx]
        Gi = G[np.ix_(idx, idx)]
        f = 0.5 * bs @ Gi @ bs - c[idx] @ bs + lam * np.sum(np.abs(bs) ** p)
        if value_only:
            return f
        g = Gi @ bs - c[idx] + penalty.derivative(bs, alpha)
        H = Gi + np.diag(penalty.curvature(bs, alpha))
        return f, g, H

    return _newton_on_orthant(fgh, beta)


def _group_exact(G, c, beta, alpha, gid, sizes):
    """Newton on the group-lasso stationarity equations on the groups that are non-zero."""
    n_groups = sizes.size
    w = alpha * np.sqrt(sizes)
    b = beta.copy()
    for _ in range(100):
        norms = np.sqrt(np.bincount(gid, weights=b * b, minlength=n_groups))
        live = norms[gid] > 0
        idx = np.flatnonzero(live)
        if idx.size == 0:
            break
        bs, gi = b[idx], gid[idx]
        nrm = norms[gi]
        Gi = G[np.ix_(idx, idx)]

        def f_of(bb, gi=gi, Gi=Gi, idx=idx):
            nn = np.sqrt(np.bincount(gi, weights=bb * bb, minlength=n_groups))
            return 0.5 * bb @ Gi @ bb - c[idx] @ bb + np.sum(w * nn)

        f = f_of(bs)
        g = Gi @ bs - c[idx] + w[gi] * bs / nrm
        same = gi[:, None] == gi[None, :]
        H = Gi + same * (w[gi] / nrm)[:, None] * (
            np.eye(idx.size) - np.outer(bs, bs) / nrm[:, None] ** 2
        )
        if np.max(np.abs(g)) <= 1e-15 * max(1.0, np.max(np.abs(bs))) * max(
            1.0, np.max(np.diag(Gi))
        ):
            break
        try:
            d = -scipy.linalg.solve(H, g, assume_a="pos")
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            d = -g / np.max(np.diag(H))
        t = 1.0
        while f_of(bs + t * d) > f + 1e-4 * t * np.dot(g, d) and t > 1e-12:
            t *= 0.5
        step = t * d
        b[idx] = bs + step
        # a group whose norm collapses leaves the support
        nn = np.sqrt(np.bincount(gid, weights=b * b, minlength=n_groups))
        b[(nn[gid] < 1e-14 * max(1.0, nn.max()))] = 0.0
        if np.max(np.abs(step)) <= 1e-15 * max(1.0, np.max(np.abs(bs))):
            break
    return b


# ----------------------------------------------------------------------------- optimality checks
def kkt_floor(X, beta, y_norm):
    """The rounding level of a KKT violation at ``beta``,
    ``(n + p) eps max_j ||x_j|| (||y|| + sum_k ||x_k|| |beta_k|) / n`` (``y_norm = ||y||``).

    It bounds the float64 error of ``g = X^T (y - X beta) / n`` (the residual's, then the inner
    products'), so a smaller violation can be neither reached nor certified: every convergence test
    here is ``kkt <= kkt_tol + kkt_floor``. Below ``alpha ~ kkt_floor / tol`` the floor decides.
    """
    n, p = X.shape
    norms = np.sqrt(np.einsum("ij,ij->j", X, X))
    eps = np.finfo(np.float64).eps
    return float((n + p) * eps * norms.max(initial=0.0) * (y_norm + norms @ np.abs(beta)) / n)


def support_hessian_eigenvalues(X, beta, alpha, penalty, ridge=0.0):
    """Ascending eigenvalues of the sparse objective's Hessian on the support ``S`` of ``beta``:
    ``X_S^T X_S / n + ridge I + diag(penalty curvature)``. For the (concave on each orthant)
    bridge penalty a negative one marks a saddle that first-order stationarity cannot see."""
    S = np.flatnonzero(beta)
    XS = X[:, S]
    H = XS.T @ XS / X.shape[0] + np.diag(ridge + penalty.curvature(beta[S], alpha))
    return np.linalg.eigvalsh(H)


def stationarity(g, beta, alpha, penalty, lipschitz):
    """``(kkt, zero_set)``: the support's stationarity residual and the off-support violation.

    ``g = X^T r / n - ridge * beta`` is minus the gradient of the smooth part. ``kkt`` is the
    largest
    distance of ``-g`` to the subdifferential of the penalty (Lasso, group) or, for the bridge, the
    largest stationarity residual on the support together with the zero-set condition.
    ``zero_set`` is the off-support part alone: ``max (|g_j| - tau_j)_+``.
    """
    if isinstance(penalty, GroupL1):
        gid, sizes = penalty.groups, penalty.sizes
        norms = np.sqrt(np.bincount(gid, weights=beta * beta, minlength=sizes.size))
        gnorm = np.sqrt(np.bincount(gid, weights=g * g, minlength=sizes.size))
        w = alpha * np.sqrt(sizes)
        on = norms > 0
        resid = g - np.where(on[gid], w[gid] * beta / np.where(on, norms, 1.0)[gid], 0.0)
        rnorm = np.sqrt(np.bincount(gid, weights=resid * resid, minlength=sizes.size))
        on_v = float(np.max(rnorm[on], initial=0.0))
        off_v = float(np.max(np.maximum(gnorm[~on] - w[~on], 0.0), initial=0.0))
        return float(np.max([on_v, off_v])), off_v  # np.max: a NaN is never dropped
    on = beta != 0
    on_v = float(np.max(np.abs(g[on] - penalty.derivative(beta[on], alpha)), initial=0.0))
    tau = penalty.zero_threshold(alpha, lipschitz)
    off_v = float(np.max(np.maximum(np.abs(g[~on]) - tau[~on], 0.0), initial=0.0))
    return float(np.max([on_v, off_v])), off_v


def _prune_bridge(X, y, beta, alpha, penalty, lipschitz, ridge):
    """Zero the support coordinates where zero is a better coordinate value (a descent move)."""
    r = y - X @ beta
    changed = False
    for j in np.flatnonzero(beta):
        gj = X[:, j] @ r / X.shape[0] - ridge * beta[j]
        b = beta[j]
        delta = (
            b * gj + 0.5 * lipschitz[j] * b * b - penalty.weight(alpha) * abs(b) ** penalty.power
        )
        if delta < 0:
            r += X[:, j] * b
            beta[j] = 0.0
            changed = True
    return changed


# ----------------------------------------------------------------------------- the driver
@single_threaded_blas
def fit_quadratic(
    X, y, alpha, penalty, *, ridge=0.0, beta0=None, max_iter=1000, max_outer=100, kkt_tol=None
):
    """Minimise ``1/(2n)||y - X beta||^2 + (ridge/2)||beta||^2 + pen(beta)`` through the network.

    ``X``, ``y`` must be centred already when an intercept is fitted. ``penalty`` is ``L1()``,
    ``Bridge(k)`` or ``GroupL1(groups)``; ``alpha`` (finite, > 0) is the network's weight decay.
    Converged: KKT violation ``<= kkt_tol + kkt_floor`` (default ``kkt_tol = 1e-10 alpha``), at
    most ``max_outer`` working-set rounds of at most ``max_iter`` L-BFGS iterations each. Returns
    a ``SolveResult`` with exact zeros off the support.
    """
    X, y = check_Xy(X, y)
    alpha = check_alpha(alpha)
    n, p = X.shape
    depth = penalty.depth
    grouped = isinstance(penalty, GroupL1)
    groups = penalty.groups if grouped else np.arange(p)
    n_groups = int(groups.max()) + 1 if p else 0
    sizes = np.bincount(groups, minlength=n_groups).astype(float)
    lipschitz = np.einsum("ij,ij->j", X, X) / n + ridge
    if kkt_tol is None:
        kkt_tol = 1e-10 * alpha
    y_norm = np.linalg.norm(y)
    beta = np.zeros(p) if beta0 is None else np.array(beta0, dtype=float)
    out = SolveResult(beta=beta)
    patience, last_W = 2, None

    for outer in range(max_outer):
        r = y - X @ beta
        g = X.T @ r / n - ridge * beta
        kkt, _ = stationarity(g, beta, alpha, penalty, lipschitz)
        out.n_outer = outer
        out.history.append(kkt)
        tolerance = kkt_tol + kkt_floor(X, beta, y_norm)
        if kkt <= tolerance:
            out.converged = True
            break
        if isinstance(penalty, Bridge) and _prune_bridge(
            X, y, beta, alpha, penalty, lipschitz, ridge
        ):
            r = y - X @ beta
            g = X.T @ r / n - ridge * beta
        # saddle check: which zero features (groups) does the network escape from?
        if grouped:
            gnorm = np.sqrt(np.bincount(groups, weights=g * g, minlength=n_groups))
            bnorm = np.sqrt(np.bincount(groups, weights=beta * beta, minlength=n_groups))
            viol = np.where(bnorm == 0, gnorm - alpha * np.sqrt(sizes), -np.inf)
        else:
            tau = penalty.zero_threshold(alpha, lipschitz)
            viol = np.where(beta == 0, np.abs(g) - tau, -np.inf)
        live = np.flatnonzero(np.bincount(groups, weights=np.abs(beta), minlength=n_groups) > 0)
        cand = np.flatnonzero(viol > 0)
        cand = cand[np.argsort(-viol[cand])][: max(10, live.size)]
        for gr in cand:  # start each newcomer at its best one-block value (the escape direction)
            j = np.flatnonzero(groups == gr) if grouped else gr
            if grouped:
                Lg = lipschitz[j].sum()
                shrink = max(1.0 - alpha * np.sqrt(sizes[gr]) / gnorm[gr], 0.0)
                beta[j] = shrink * g[j] / Lg
            else:
                beta[j] = penalty.coordinate_minimizer(g[j], alpha, lipschitz[j])
        W_groups = np.union1d(live, cand)
        W = np.flatnonzero(np.isin(groups, W_groups))
        if W.size == 0:  # the zero vector is optimal
            out.converged = kkt <= tolerance
            break
        XW = X[:, W]
        G = XW.T @ XW / n + ridge * np.eye(W.size)
        c = XW.T @ y / n
        _, local_gid = np.unique(groups[W], return_inverse=True)
        gate_w = sizes[np.unique(groups[W])] if grouped else np.ones(W.size)
        # same working set as last round: the network stopped too early, train it longer
        patience = 2 * patience if last_W is not None and np.array_equal(W, last_W) else 2
        last_W = W
        b_net, nit = train_network(
            G, c, alpha, depth, beta[W], local_gid, gate_w, max_iter=max_iter,
            gtol=1e-12 * max(np.max(np.abs(c)), 1e-300), patience=patience,
        )  # fmt: skip
        out.n_iter += nit
        b_net = _identify(b_net, local_gid)
        if isinstance(penalty, L1):
            b = _lasso_exact(G, c, b_net, alpha)
        elif isinstance(penalty, Bridge):
            b = _bridge_exact(G, c, b_net, alpha, penalty)
        else:
            b = _group_exact(G, c, b_net, alpha, local_gid, gate_w)
        nb = np.linalg.norm(b)
        out.exact_step_change = float(np.linalg.norm(b - b_net) / nb) if nb > 0 else 0.0
        beta = np.zeros(p)
        beta[W] = b
    out.beta = beta
    return out


def _identify(b, gid, rel=1e-7):
    """Support identification: blocks whose size is a tiny fraction of the largest are zero."""
    norms = np.sqrt(np.bincount(gid, weights=b * b))
    keep = norms > rel * max(norms.max(initial=0.0), 1e-300)
    return np.where(keep[gid], b, 0.0)


# ----------------------------------------------------------------------------- Hoff's route
@single_threaded_blas
def fit_variational(X, y, alpha, *, ridge=0.0, max_iter=5000, tol=1e-10, kkt_tol=None):
    """The Lasso by Hoff's alternating ridge: ``a = |b|``, ``b = argmin loss + (alpha/2) b^2 / a``.

    Each sweep solves ``(A^(1/2) G A^(1/2) + alpha I) z = A^(1/2) c`` and sets ``b = A^(1/2) z``,
    stable as entries of ``a`` reach zero. Once the support and signs settle, the same exact step
    as the network route finishes it, and the KKT check (``kkt_tol + kkt_floor``, with a
    working-set top-up) decides.
    """
    X, y = check_Xy(X, y)
    alpha = check_alpha(alpha)
    n, p = X.shape
    G = X.T @ X / n + ridge * np.eye(p)
    c = X.T @ y / n
    lipschitz = np.diag(G).copy()
    if kkt_tol is None:
        kkt_tol = 1e-10 * alpha
    a = np.abs(scipy.linalg.solve(G + alpha * np.eye(p), c, assume_a="pos"))
    out = SolveResult(beta=np.zeros(p))
    b = a
    prev_sign = None
    stable = 0
    for it in range(1, max_iter + 1):
        live = np.flatnonzero(a > 1e-300)
        sq = np.sqrt(a[live])
        A = sq[:, None] * G[np.ix_(live, live)] * sq[None, :] + alpha * np.eye(live.size)
        z = scipy.linalg.solve(A, sq * c[live], assume_a="pos")
        b = np.zeros(p)
        b[live] = sq * z
        change = np.max(np.abs(np.abs(b) - a))
        a = np.abs(b)
        # support/sign identification: sizes below 1e-8 of the largest count as zero
        sign = np.sign(np.where(a > 1e-8 * a.max(initial=0.0), b, 0.0))
        stable = stable + 1 if prev_sign is not None and np.array_equal(sign, prev_sign) else 0
        prev_sign = sign
        out.n_iter = it
        if stable >= 20 or change <= tol * max(a.max(initial=0.0), 1e-300):
            break
    b_id = np.where(prev_sign != 0, b, 0.0)
    beta = _lasso_exact(G, c, b_id, alpha)
    nb = np.linalg.norm(beta)
    out.exact_step_change = float(np.linalg.norm(beta - b_id) / nb) if nb > 0 else 0.0
    g = c - G @ beta
    kkt, _ = stationarity(g, beta, alpha, L1(), lipschitz)
    if kkt > kkt_tol + kkt_floor(X, beta, np.linalg.norm(y)):
        # a coordinate collapsed too early: finish on the network's working sets
        res = fit_quadratic(X, y, alpha, L1(), ridge=ridge, beta0=beta, kkt_tol=kkt_tol)
        beta, out.n_outer, out.converged = res.beta, res.n_outer, res.converged
    else:
        out.converged = True
    out.beta = beta
    return out


@single_threaded_blas
def fit_bridge(
    X, y, alpha, depth, *, ridge=0.0, beta_lasso=None, starts=(1.0, 1.5, 2.0, 3.0),
    max_iter=1000, kkt_tol=None,
):  # fmt: skip
    """A depth-``k`` network (bridge penalty) from several Lasso starts; the lowest objective wins.

    The bridge problem is non-convex, so the start matters. Each start is the balanced
    factorisation of the Lasso solution at ``m * alpha`` for ``m`` in ``starts`` (the first,
    ``m = 1``, is the Lasso at the same alpha). The best local minimum is then improved by a
    drop-one search: each support feature is removed in turn and the network retrained, kept when
    the objective falls. Every fit is ``fit_quadratic`` with these ``max_iter`` and ``kkt_tol``
    (default ``1e-10 alpha``; ``m kkt_tol`` for the Lasso start at ``m alpha``).
    """
    X, y = check_Xy(X, y)
    alpha = check_alpha(alpha)
    n = X.shape[0]
    pen = Bridge(depth)
    if kkt_tol is None:
        kkt_tol = 1e-10 * alpha

    def objective(b):
        r = y - X @ b
        return 0.5 * r @ r / n + 0.5 * ridge * b @ b + pen.value(b, alpha)

    best, best_f, total_iter = None, np.inf, 0
    for m in starts:
        if m == 1.0 and beta_lasso is not None:
            b0 = beta_lasso
        else:
            b0 = fit_quadratic(
                X, y, m * alpha, L1(), ridge=ridge, max_iter=max_iter, kkt_tol=m * kkt_tol
            ).beta
        res = fit_quadratic(
            X, y, alpha, pen, ridge=ridge, beta0=b0, max_iter=max_iter, kkt_tol=kkt_tol
        )
        total_iter += res.n_iter
        f = objective(res.beta)
        if f < best_f:
            best, best_f = res, f
    improved = True
    while improved:
        improved = False
        for j in np.flatnonzero(best.beta):
            b0 = best.beta.copy()
            b0[j] = 0.0
            res = fit_quadratic(
                X, y, alpha, pen, ridge=ridge, beta0=b0, max_iter=max_iter, kkt_tol=kkt_tol
            )
            total_iter += res.n_iter
            f = objective(res.beta)
            if f < best_f * (1 - 1e-12):
                best, best_f, improved = res, f, True
                break
    best.n_iter = total_iter
    return best
