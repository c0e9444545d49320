"""Every registered study runs in --quick mode and shows what it claims; resume and Dask agree."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sparsitylab.studies import (
    STUDIES,
    StudyError,
    get_study,
    run_study,
)
from test_studies_more import CHECKS as MORE_CHECKS  # these studies are checked there


@pytest.fixture(scope="session")
def quick_runs(quick_study):
    def get(name):
        paths = quick_study(name)  # run once for the whole suite (tests/conftest.py)
        return paths, json.loads(paths["metrics"].read_text())

    return get


def _check_boston(m):
    assert m["lasso"]["test_mse"] == 25.6567 and m["lasso"]["r2"] == 0.6501
    nets = m["networks"]
    assert set(nets) == {"two_layer", "wide", "wide_no_l2", "deep", "bottleneck"}
    assert all(len(n["test_mse"]) == m["seeds"] for n in nets.values())
    assert nets["deep"]["test_mse_mean"] < nets["two_layer"]["test_mse_mean"]
    assert nets["wide_no_l2"]["l2"] == 0.0 and nets["wide"]["l2"] == 1e-3
    capped = m["networks_report_cap"]  # the report's epoch cap: early stopping never acts on it
    assert capped["two_layer"]["fraction_at_cap"] == 1.0
    assert nets["two_layer"]["test_mse_mean"] < capped["two_layer"]["test_mse_mean"]
    if "hadamard" in m:  # the network equals the Lasso: certified optimum
        assert m["hadamard"]["certificate"]["duality_gap"] < 1e-8
        assert abs(m["hadamard"]["test_mse"] - m["lasso"]["test_mse_full"]) < 0.05


def _check_early_stopping(m):
    best = np.asarray(m["best_epoch"])  # 1-based, as the report prints them
    assert m["optimum_inside"] and np.all((best > 1) & (best < m["max_epochs"]))
    assert m["best_epoch_seed0"] == best[0]
    assert m["best_test_mse"][0] < m["final_test_mse"][0]
    assert m["refit_test_mse_seed0"] < m["final_test_mse"][0]


def _check_weight_penalty(m):
    for pen in ("l1", "l2"):
        r = m[pen]
        assert r["best_test_mse"] < r["weakest_test_mse"]
        assert 0 < r["alphas"].index(r["best_alpha"]) < len(r["alphas"]) - 1  # interior optimum
        assert r["weight_l1"][-1] < r["weight_l1"][0]
        # the report's "lowest at an intermediate alpha" follows the measured curve
        interior = 0 < r["alphas"].index(r["best_alpha"]) < len(r["alphas"]) - 1
        assert m["interior_optimum"][pen] == interior
        assert r["best_test_mse"] == min(r["test_mse"])
    widths = {int(w): v[0] for w, v in m["widths"].items()}
    best = min(m["l2"]["best_test_mse"], m["l1"]["best_test_mse"])
    close = sorted(w for w, v in widths.items() if v <= 1.25 * best)
    assert m["small_network_like_regularized"] == (close[0] if close else None)


def _check_ensembles(m):
    single = m["single"]["test_mse_mean"]
    assert m["dropout"]["test_mse_mean"] < single
    assert m["ensemble"]["test_mse_mean"] < single
    assert m["ensemble"]["test_mse_sd"] < m["single"]["test_mse_sd"]


def _check_sample_size(m):
    assert m["test_mse"][-1] < m["test_mse"][0]
    assert m["train_mse"][-1] > m["train_mse"][0]  # the small set is memorized
    assert abs(m["test_mse"][-1] - m["noise_variance"]) < 0.02
    # one fixed test set for every n: its noise floor is one number, below every test MSE
    assert 0.02 < m["test_noise_floor"] < 0.07
    assert all(t > m["test_noise_floor"] for t in m["test_mse"])
    gap = [te - tr for te, tr in zip(m["test_mse"], m["train_mse"], strict=True)]
    assert np.allclose(m["test_minus_train"], gap)  # the report's "meet" verdict follows the gap
    assert m["meets_at_largest_n"] == (abs(gap[-1]) <= 0.1 * m["noise_variance"])
    assert m["test_falls"] == (m["test_mse"][-1] < m["test_mse"][0])


def _check_optimizers(m):
    for key, r in m.items():
        if r is not None:
            assert r["last_epoch_loss"] < r["first_epoch_loss"], key
    assert m["opt/adam"]["final_mse"] < m["opt/sgd"]["final_mse"]


CHECKS = {
    "boston": _check_boston,
    "early-stopping": _check_early_stopping,
    "weight-penalty": _check_weight_penalty,
    "ensembles-dropout": _check_ensembles,
    "sample-size": _check_sample_size,
    "optimizers": _check_optimizers,
}


@pytest.mark.parametrize("name", [n for n in STUDIES if n not in MORE_CHECKS])
def test_study_quick(name, quick_runs):
    paths, metrics = quick_runs(name)
    for kind in ("html", "markdown", "metrics", "config"):
        assert paths[kind].exists()
    html = paths["html"].read_text()
    assert "data:image/png;base64," in html
    config = json.loads(paths["config"].read_text())
    assert config["study"] == name and config["quick"] is True
    assert name in CHECKS, f"study {name} has no check of its claims"
    CHECKS[name](metrics)


def test_every_study_has_a_summary():
    for study in STUDIES.values():
        assert study.summary and "\n" not in study.summary


def test_unknown_study():
    with pytest.raises(StudyError, match="unknown study"):
        get_study("nope")


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, quick_runs, interrupting):
    reference, _ = quick_runs("sample-size")
    study = get_study("sample-size")
    with pytest.raises(KeyboardInterrupt):
        run_study(study, tmp_path, quick=True, executor=interrupting(after=1))
    runs = (tmp_path / "sample-size" / "runs.jsonl").read_text().splitlines()
    assert len(runs) == 1
    seen = []
    paths = run_study(
        study, tmp_path, quick=True, resume=True, progress=lambda done, total, key: seen.append(key)
    )
    assert seen[0] == "" and len(seen) == 1 + 2  # only the two missing tasks ran
    assert paths["metrics"].read_bytes() == reference["metrics"].read_bytes()


def test_resume_refuses_another_configuration(tmp_path):
    study = get_study("early-stopping")
    (tmp_path / "early-stopping").mkdir()
    (tmp_path / "early-stopping" / "config.json").write_text('{"study": "early-stopping"}')
    with pytest.raises(StudyError, match="another configuration"):
        run_study(study, tmp_path, quick=True, resume=True)
    (tmp_path / "early-stopping" / "config.json").write_text('{"study": ')  # cut short
    with pytest.raises(StudyError, match="not a configuration this program wrote"):
        run_study(study, tmp_path, quick=True, resume=True)


def test_dask_local_cluster_equals_in_process(tmp_path, quick_runs):
    distributed = pytest.importorskip("distributed")
    from sparsitylab.studies import DaskExecutor

    reference, _ = quick_runs("sample-size")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        executor = DaskExecutor(cluster.scheduler_address)
        try:
            paths = run_study(get_study("sample-size"), tmp_path, quick=True, executor=executor)
        finally:
            executor.close()
    assert paths["metrics"].read_bytes() == reference["metrics"].read_bytes()
