"""The studies of the equivalences and diagnostics run in --quick mode and show what they claim.

(``tests/test_studies.py`` runs the other registered studies and leaves these to this module.)
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from sparsitylab.studies import STUDIES


@pytest.fixture(scope="module")
def quick(quick_study):
    def run(name):
        paths = quick_study(name)  # run once for the whole suite (tests/conftest.py)
        assert "data:image/png;base64," in paths["html"].read_text()
        config = json.loads(paths["config"].read_text())
        assert config["study"] == name and config["quick"] is True
        return json.loads(paths["metrics"].read_text())

    return run


def _check_equivalence(m):
    d2 = m["depth2"]
    assert d2["max_duality_gap"] <= 1e-8  # certified Lasso optimum at every alpha
    assert d2["max_rel_coef_diff_to_sklearn"] <= 1e-5 and d2["same_support"]
    br = m["bridge"]
    assert br["max_ratio_to_skglm_best"] <= 1.001 and br["all_balanced"]
    for row in br["rows"]:  # deeper: no more features than the Lasso at the same alpha
        assert row["nnz network"] <= row["nnz Lasso (depth 2)"]
    assert br["deeper_not_denser_fraction"] == 1.0 and br["balanced_fraction"] == 1.0
    sparser = [r["nnz network"] < r["nnz Lasso (depth 2)"] for r in br["rows"]]
    assert br["deeper_sparser_fraction"] == np.mean(sparser)  # the report prints this fraction
    assert m["logistic"]["max_rel_coef_diff"] <= 1e-5 and m["logistic"]["max_gap"] <= 1e-8
    assert m["group"]["max_rel_coef_diff"] <= 1e-5 and m["group"]["same_groups"]
    assert m["nuclear"]["max_rel_objective_diff"] <= 1e-6


def _check_vanishing(m):
    for key in ("sigmoid/5", "sigmoid/10"):  # first layer orders of magnitude below the last
        assert max(m[key]["log10_first_over_last"]) < -2
    assert all(d >= 1 for d in m["sigmoid_below_relu_decades"])  # ReLU keeps 10x+ more of it
    # the seed's backward pass is off (no output sigma', no sign); the corrected one is exact
    assert m["seed_code"]["seed_over_exact_min"] > 3.9
    assert m["seed_code"]["exact_recurrence_vs_jax_max_rel"] < 1e-10


def _check_relu_linear(m):
    for target in ("linear", "nonlinear"):
        r = m[target]
        assert r["relu_not_worse_fraction"] == 1.0  # trained ReLU net <= least squares
        assert r["collapse_max_abs_diff"] < 1e-9  # non-negative weights: exactly linear
        assert r["nonneg_min_weight"] >= 0.0  # every weight, the output layer's included
        # a linear model with non-negative coefficients: never below NNLS, and it reaches it
        assert min(r["nonneg_over_nnls"]) >= 1.0 - 1e-6
        assert np.allclose(r["nonneg_over_nnls"], 1.0, atol=1e-3)
    assert m["nonlinear"]["relu_over_ls"][0] < 0.5
    assert m["linear"]["nonneg_over_ls_min"] > 1.5  # not least squares: the seed's "=" fails


def _check_activation_regions(m):
    # patterns settle: fewer flips late in training than early, for every seed
    assert m["hamming_decreases_all_seeds"]
    assert all(
        last < 0.5 * first
        for first, last in zip(m["hamming_first_10pct"], m["hamming_last_10pct"], strict=True)
    )
    assert m["final_max_error"][0] < 0.1
    assert all(n >= 2 for n in m["n_regions"])


def _check_mnist_gradients(m):
    assert m["test_error_last"][0] < m["test_error_first"][0]  # the error falls
    assert m["loss_last"][0] < m["loss_first"][0]
    assert m["test_error_last"][0] < 0.5  # ten classes, not two: chance is 0.9
    # the recorded norm is the norm of the epoch's mean gradient (the text says so); it shrinks
    assert m["grad_norm_of"] == "epoch mean gradient"
    assert m["grad_total_last"][0] < m["grad_total_first"][0] <= m["grad_total_max"]


def _check_depth_sparsity(m):
    assert m["deeper_never_denser_fraction"] == 1.0  # deeper -> sparser at matched fit
    assert m["deeper_strictly_sparser_fraction"] > 0.5
    best = m["best_test"]
    assert best["4"]["false_positives"][0] < best["2"]["false_positives"][0]
    assert m["max_kkt_over_alpha"] < 1e-6


def _check_topology(m):
    assert m["input_betti"] == {"class0": [9, 0], "class1": [1, 9]}  # D-I as constructed
    bottleneck = m["bottleneck/relu"]
    assert min(bottleneck["accuracy"]) >= 0.99
    # the holes of class 1 are fewer at the last hidden layer than in the input (measured;
    # the full simplification to (1, 0) that the paper reports is not reached in quick mode)
    assert np.mean(bottleneck["last_hidden_b1"]["1"]) < 9
    assert 0.0 <= m["relu_simplified_fraction"] <= 1.0
    # networks below 0.95 training accuracy are named in the report as not well trained
    low = m["low_accuracy_networks"]
    assert isinstance(low, list) and not any(name.startswith("bottleneck") for name in low)


def _check_feature_selection(m):
    reg = m["regression"]
    roles = {"linear", "sin", "product"}
    for who in ("network", "lasso"):  # missed counts and their roles agree with recall
        found, missed = reg[f"{who}_found"], reg[f"{who}_missed"]
        by_role = reg[f"{who}_missed_roles"]
        assert [5 - f for f in found] == missed == [len(r) for r in by_role]
        assert all(set(r) <= roles for r in by_role)  # the dataset's roles were recovered
    assert reg["network_exact"] == [
        f == 5 and p == 0 for f, p in zip(reg["network_found"], reg["network_false"], strict=True)
    ]
    assert all(f == 5 for f in reg["network_found"])  # the network path finds every feature
    # the Lasso misses only non-linear features (never a linear one) in this run
    assert all(set(r) <= {"sin", "product"} for r in reg["lasso_missed_roles"])
    mn = m["mnist"]
    assert len(mn["n_pixels_network"]) == len(mn["n_pixels_l1"]) == len(reg["network_found"])
    # the L1-logistic C is bisected to the network's pixel count: equal budgets, to a pixel or two
    for net, l1 in zip(mn["n_pixels_network"], mn["n_pixels_l1"], strict=True):
        assert abs(net - l1) <= max(2, 0.05 * net), (net, l1)
    assert mn["accuracy_network"][0] > mn["accuracy_random"][0]  # chosen pixels beat random


CHECKS = {
    "equivalence": _check_equivalence,
    "vanishing-gradients": _check_vanishing,
    "relu-vs-linear": _check_relu_linear,
    "activation-regions": _check_activation_regions,
    "mnist-gradients": _check_mnist_gradients,
    "depth-sparsity": _check_depth_sparsity,
    "topology": _check_topology,
    "feature-selection": _check_feature_selection,
}


@pytest.mark.parametrize("name", list(CHECKS))
def test_study_quick_more(name, quick):
    if name not in STUDIES:
        pytest.skip(f"{name} is not registered here (its building blocks do not import)")
    CHECKS[name](quick(name))
