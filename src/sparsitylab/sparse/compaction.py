"""``compact``: the smallest network that computes what a sparse one computes.

A hidden unit ``u`` of layer ``l`` contributes ``act(z_u) * W_{l+1}[u, :]`` to the next layer.

* All outgoing weights zero (in every ensemble member): it contributes nothing; removed.
* All incoming weights zero: ``z_u`` is the constant ``b_u`` (through batch norm at evaluation,
  ``(b_u - mean_u) / sqrt(var_u + eps) * scale_u + shift_u``), so it contributes the constant
  ``act(z_u) W_{l+1}[u, :]``, which is added to the next layer's bias; removed.
* Never active on the data ``X`` (ReLU, ``z_u <= 0`` on every row): it contributes exactly 0 on
  those rows; removed (predictions are unchanged on ``X``, not necessarily elsewhere).

Removing units can kill others (a unit whose only outgoing weights went to removed units), so
the passes repeat until nothing changes. Then the inputs whose (gated) first-layer row is zero
(also those that fed only removed units) are dropped: the compacted estimator reads the remaining
columns itself (:class:`~sparsitylab.sparse._model.SelectInputs`), so it takes the same ``X``,
and its ``selected_features_``, ``selected_feature_names_`` and ``feature_importances_`` refer
to the columns of that ``X``: the importances of the columns it uses are the model's (mean
``|W1|``, or a path's ``leave_alpha``), 0 for the others. ``masks_`` (of a pruned model) is cut
to the kept units and inputs, so a later ``retrain`` still holds the pruned weights at zero.
"""

from __future__ import annotations

import copy

import jax
import numpy as np
from sklearn.utils.validation import validate_data

from sparsitylab._checks import to_float32
from sparsitylab.engine.networks import BN_EPS, MLP
from sparsitylab.sparse._model import SelectInputs, check_model, n_parameters, refresh, unwrap
from sparsitylab.sparse.inference import _ACT, attach


def _preacts(network, params, state, X):
    """Hidden pre-activations of every member on ``X``: list of ``(M, n, units)``."""

    def one(p, s):
        return network.apply(p, s, X, capture=True)[2]

    return [np.asarray(h) for h in jax.vmap(one)(params, state)]


def _effective(layer):
    """A layer's weights as its inputs see them (gated when it has an input gate)."""
    return layer["w"] * layer["gate"][..., None] if "gate" in layer else layer["w"]


def _validate_X(model, X):
    """``X`` checked as ``model.predict`` checks it (scikit-learn's ``validate_data`` with
    ``reset=False``: the training columns, their pandas names and order, at least one row,
    finite values within float32's range, numeric columns), as float32."""
    from sparsitylab.estimators._base import check_numeric_columns  # here: estimators import us

    check_numeric_columns(X)
    return to_float32(validate_data(model, X, reset=False, dtype=np.float64))


def compact(model, X=None):
    """A copy of ``model`` without dead hidden units and unused inputs (see the module doc).

    Parameters
    ----------
    model : fitted sparsitylab MLP estimator
    X : array-like, optional
        Training data: ReLU units never active on it are removed too. Checked as ``predict``
        checks its input (the training columns, pandas names in their order, at least one row,
        finite values), so an empty or reordered ``X`` cannot remove units the model needs.

    The copy predicts what ``model`` predicts (to float32 rounding; on ``X`` for the units removed
    because of ``X``) and has ``compaction_``: parameter counts, hidden sizes and input counts
    before and after, and ``inputs`` (the original column indices it reads). Its
    ``feature_importances_`` keep the model's values for the columns it uses (0 elsewhere) and
    its ``masks_`` are the model's, cut to what it keeps.
    """
    check_model(model, "compact")
    columns, net = unwrap(model.network_)
    if not isinstance(net, MLP):
        raise ValueError(f"compact handles MLP networks, not {type(net).__name__}")
    n_in_orig = int(model.n_features_in_)
    cols = np.arange(n_in_orig) if columns is None else np.asarray(columns)
    params = [{k: np.array(v) for k, v in layer.items()} for layer in model.params_]
    masks = getattr(model, "masks_", None)
    masks = None if masks is None else [np.array(k) for k in masks]
    state = [{k: np.array(v) for k, v in st.items()} for st in model.state_]
    before = n_parameters(model.params_)
    L = len(params)
    act = _ACT[net.activation]

    inactive = [None] * (L - 1)
    if X is not None:
        if net.activation != "relu":
            raise ValueError("removing units never active on X needs activation='relu'; "
                             "call compact(model) without X")  # fmt: skip
        Xa = _validate_X(model, X)
        pre = _preacts(net, model.params_, model.state_, Xa[:, cols])
        inactive = [np.all(h <= 0, axis=(0, 1)) for h in pre]

    changed = True
    while changed:
        changed = False
        for l in range(L - 1):
            w_in, w_out = _effective(params[l]), params[l + 1]["w"]
            in_zero = np.all(w_in == 0, axis=(0, 1))
            out_zero = np.all(w_out == 0, axis=(0, 2))
            dead = in_zero | out_zero
            if inactive[l] is not None:
                dead = dead | inactive[l]
            fold = in_zero & ~out_zero
            if inactive[l] is not None:
                fold = fold & ~inactive[l]
            if np.any(fold):
                if "b" not in params[l + 1]:  # nowhere to put the constant: keep those units
                    dead = dead & ~fold
                else:
                    z = params[l]["b"][:, fold] if "b" in params[l] else 0.0 * w_in[:, 0, fold]
                    if "scale" in params[l]:
                        inv = 1.0 / np.sqrt(state[l]["var"][:, fold] + BN_EPS)
                        z = (z - state[l]["mean"][:, fold]) * inv * params[l]["scale"][:, fold]
                        z = z + params[l]["shift"][:, fold]
                    const = act(z)  # (M, n_fold)
                    params[l + 1]["b"] = params[l + 1]["b"] + np.einsum(
                        "mu,muo->mo", const, w_out[:, fold]
                    ).astype(params[l + 1]["b"].dtype)
            if not dead.any():
                continue
            keep = ~dead
            if not keep.any():  # a layer needs one unit: keep one, with no weights in or out
                keep[np.argmax(dead)] = True
                params[l]["w"][:, :, keep] = 0.0
                params[l + 1]["w"][:, keep] = 0.0
                if masks is not None:
                    masks[l][:, :, keep] = 0.0
                    masks[l + 1][:, keep] = 0.0
            if keep.all():
                continue
            changed = True
            for k in ("b", "scale", "shift"):
                if k in params[l]:
                    params[l][k] = params[l][k][:, keep]
            params[l]["w"] = params[l]["w"][:, :, keep]
            for k in list(state[l]):
                state[l][k] = state[l][k][:, keep]
            params[l + 1]["w"] = params[l + 1]["w"][:, keep]
            if masks is not None:
                masks[l], masks[l + 1] = masks[l][:, :, keep], masks[l + 1][:, keep]
            if inactive[l] is not None:
                inactive[l] = inactive[l][keep]

    # inputs last, once no unit can go: rows of the (gated) first layer zero in every member
    keep_in = np.any(_effective(params[0]) != 0, axis=(0, 2))
    if not keep_in.any():
        keep_in[0] = True  # a network needs one input; its row is zero
    params[0]["w"] = params[0]["w"][:, keep_in]
    if masks is not None:
        masks[0] = masks[0][:, keep_in]
    if "gate" in params[0]:
        params[0]["gate"] = params[0]["gate"][:, keep_in]
    cols = cols[keep_in]

    hidden = tuple(int(params[l]["w"].shape[2]) for l in range(L - 1))
    inner = MLP(
        n_inputs=int(len(cols)), hidden=hidden, n_outputs=net.n_outputs, activation=net.activation,
        use_bias=net.use_bias, batch_norm=net.batch_norm, dropout=net.dropout,
        dropout_first=net.dropout_first, input_gate=net.input_gate, init_scheme=net.init_scheme,
        dtype=net.dtype,
    )  # fmt: skip
    out = copy.deepcopy(model)
    if len(cols) == n_in_orig and np.array_equal(cols, np.arange(n_in_orig)):
        out.network_ = inner
    else:
        out.network_ = SelectInputs(tuple(int(c) for c in cols), inner, n_in_orig)
    out.params_ = tuple(params)
    out.state_ = tuple(state)
    if masks is not None:
        out.masks_ = tuple(masks)
    refresh(out)
    importances = np.asarray(model.feature_importances_)
    used = out.selected_features_
    out.feature_importances_ = np.zeros_like(importances)
    out.feature_importances_[used] = importances[used]
    attach(out)
    out.compaction_ = {
        "params_before": before, "params_after": n_parameters(out.params_),
        "hidden_before": tuple(net.hidden), "hidden_after": hidden,
        "inputs_before": n_in_orig if columns is None else len(columns),
        "inputs_after": int(len(cols)), "inputs": cols,
    }  # fmt: skip
    return out
