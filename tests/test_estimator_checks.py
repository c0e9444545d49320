"""The sparse MLP estimators honour scikit-learn's estimator contract."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sparsitylab import SparseMLPClassifier, SparseMLPRegressor

# Small, quick settings; the checks exercise the API, not accuracy at defaults.
ESTIMATORS = [
    SparseMLPRegressor(
        hidden_layer_sizes=(16,), learning_rate=1e-2, max_epochs=300, random_state=0
    ),
    SparseMLPClassifier(
        hidden_layer_sizes=(16,), learning_rate=1e-2, max_epochs=300, random_state=0
    ),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_contract(estimator, check):
    check(estimator)
