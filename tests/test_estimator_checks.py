"""The sparse MLP estimators and the binary Hadamard classifier honour scikit-learn's contract."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sparsitylab import HadamardLogisticRegression, SparseMLPClassifier, SparseMLPRegressor

# Small, quick settings; the checks exercise the API, not accuracy at defaults.
ESTIMATORS = [
    SparseMLPRegressor(
        hidden_layer_sizes=(16,), learning_rate=1e-2, max_epochs=300, random_state=0
    ),
    SparseMLPClassifier(
        hidden_layer_sizes=(16,), learning_rate=1e-2, max_epochs=300, random_state=0
    ),
    HadamardLogisticRegression(alpha=0.01),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_contract(estimator, check):
    check(estimator)
