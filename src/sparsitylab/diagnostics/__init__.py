"""Diagnostics: what a trained network did, measured (numpy / pandas) and drawn (matplotlib).

Every function that returns data has a ``plot_*`` beside it that returns a
:class:`matplotlib.figure.Figure`. Models are read by duck typing: a fitted estimator
(``network_`` and ``params_``; ensemble member 0 unless ``member=`` says otherwise), a
``(network, params)`` pair, scikit-learn's ``coefs_`` / ``intercepts_``, or a ``(weights, biases)``
pair of lists of arrays. See ``docs/diagnostics.md`` for the mathematics.

Topics, one module each: :mod:`.weights` (sparsity, feature use), :mod:`.regions` (activation
patterns and linear regions), :mod:`.gradients` (recorded gradient norms and Hamming distances,
the chain network, the CNN experiment), :mod:`.curvature` (Hessian spectrum, early stopping ~ L2),
:mod:`.topology` (Betti numbers through the layers), :mod:`.linear` (ReLU vs linear on
non-negative data), :mod:`.filters` (convolution kernels).
"""

from sparsitylab.diagnostics.curvature import (
    early_stopping_vs_ridge,
    hessian_eigenvalues,
    plot_early_stopping_vs_ridge,
    plot_hessian_eigenvalues,
)
from sparsitylab.diagnostics.filters import (
    blur_kernel,
    convolve_image,
    filter_responses,
    laplace_kernel,
    learned_filters,
    plot_convolution_filters,
)
from sparsitylab.diagnostics.gradients import (
    chain_network_gradients,
    cnn_gradient_experiment,
    gradient_norm_history,
    hamming_history,
    plot_chain_network_gradients,
    plot_cnn_gradient_experiment,
    plot_gradient_norm_history,
    plot_hamming_history,
)
from sparsitylab.diagnostics.linear import (
    collapse_nonnegative_relu,
    plot_relu_vs_least_squares,
    relu_vs_least_squares,
)
from sparsitylab.diagnostics.regions import (
    activation_patterns,
    activation_regions_1d,
    count_regions_2d,
    hamming_distance,
    linear_regions_1d,
    plot_activation_patterns,
    plot_count_regions_2d,
    plot_linear_regions_1d,
    plot_regions_through_training,
    region_bound,
    regions_through_training,
)
from sparsitylab.diagnostics.topology import (
    betti_numbers,
    betti_through_layers,
    geodesic_distances,
    layer_representations,
    make_disks_in_holes,
    make_linked_rings,
    make_nested_spheres,
    make_topology_dataset,
    plot_betti_numbers,
    plot_betti_through_layers,
)
from sparsitylab.diagnostics.weights import (
    effective_n_features,
    lasso_vs_network_weights,
    layer_weights,
    mean_abs_weight_per_feature,
    plot_lasso_vs_network_weights,
    plot_mean_abs_weight_per_feature,
    plot_sparsity_by_layer,
    plot_weight_histograms,
    sparsity_by_layer,
    weight_histograms,
)

__all__ = [
    "activation_patterns",
    "activation_regions_1d",
    "betti_numbers",
    "betti_through_layers",
    "blur_kernel",
    "chain_network_gradients",
    "cnn_gradient_experiment",
    "collapse_nonnegative_relu",
    "convolve_image",
    "count_regions_2d",
    "early_stopping_vs_ridge",
    "effective_n_features",
    "filter_responses",
    "geodesic_distances",
    "gradient_norm_history",
    "hamming_distance",
    "hamming_history",
    "hessian_eigenvalues",
    "laplace_kernel",
    "lasso_vs_network_weights",
    "layer_representations",
    "layer_weights",
    "learned_filters",
    "linear_regions_1d",
    "make_disks_in_holes",
    "make_linked_rings",
    "make_nested_spheres",
    "make_topology_dataset",
    "mean_abs_weight_per_feature",
    "plot_activation_patterns",
    "plot_betti_numbers",
    "plot_betti_through_layers",
    "plot_chain_network_gradients",
    "plot_cnn_gradient_experiment",
    "plot_convolution_filters",
    "plot_count_regions_2d",
    "plot_early_stopping_vs_ridge",
    "plot_gradient_norm_history",
    "plot_hamming_history",
    "plot_hessian_eigenvalues",
    "plot_lasso_vs_network_weights",
    "plot_linear_regions_1d",
    "plot_mean_abs_weight_per_feature",
    "plot_regions_through_training",
    "plot_relu_vs_least_squares",
    "plot_sparsity_by_layer",
    "plot_weight_histograms",
    "region_bound",
    "regions_through_training",
    "relu_vs_least_squares",
    "sparsity_by_layer",
    "weight_histograms",
]
