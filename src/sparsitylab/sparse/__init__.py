"""Small networks: pruning, compaction, quantization, a sparse inference path and plots.

Every function takes a fitted sparsitylab network estimator (duck-typed: ``network_``,
``params_``, ``state_``) and returns a modified copy. See ``docs/sparse-networks.md``.
"""

from sparsitylab.sparse.compaction import compact
from sparsitylab.sparse.inference import SPARSE_THRESHOLD, SparseForward
from sparsitylab.sparse.plots import plot_feature_importances, plot_path
from sparsitylab.sparse.pruning import magnitude_masks, prune, prune_schedule, quantize, retrain

__all__ = [
    "SPARSE_THRESHOLD",
    "SparseForward",
    "compact",
    "magnitude_masks",
    "plot_feature_importances",
    "plot_path",
    "prune",
    "prune_schedule",
    "quantize",
    "retrain",
]
