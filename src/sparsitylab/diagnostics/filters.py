"""Convolution as filters (seed 001): classic kernels on an image beside a CNN's learned filters.

``g = f * K`` slides the kernel over the image: a box kernel of ones blurs, the discrete Laplace
kernel ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]`` (a second derivative) picks out edges. A CNN's first
layer learns such kernels from data.
"""

from __future__ import annotations

import numpy as np

from sparsitylab.diagnostics._model import take_member
from sparsitylab.diagnostics._plotting import new_figure

LAPLACE = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def blur_kernel(size: int = 3) -> np.ndarray:
    """A ``size x size`` box kernel of ones, normalized to sum 1."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    return np.full((size, size), 1.0 / size**2)


def laplace_kernel() -> np.ndarray:
    return LAPLACE.copy()


def convolve_image(image, kernel) -> np.ndarray:
    """2-D convolution with reflected borders (``scipy.ndimage.convolve``)."""
    from scipy import ndimage

    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 1:
        side = int(round(np.sqrt(img.size)))
        if side * side != img.size:
            raise ValueError(f"a flat image must have a square number of pixels, got {img.size}")
        img = img.reshape(side, side)
    return ndimage.convolve(img, np.asarray(kernel, dtype=np.float64), mode="reflect")


def learned_filters(model, *, member: int = 0) -> np.ndarray:
    """The first convolution layer's kernels, ``(n_filters, kh, kw)`` (first input channel).

    ``model`` is a fitted estimator with a CNN (``params_``, member ``member``), a
    ``(network, params)`` pair, or a table from ``cnn_gradient_experiment``.
    """
    if hasattr(model, "attrs") and "params" in getattr(model, "attrs", {}):
        w = model.attrs["params"][0]["w"]
    elif hasattr(model, "params_"):
        w = take_member(model.params_[0]["w"], member)
    elif isinstance(model, tuple | list) and len(model) >= 2:
        w = model[1][0]["w"]
    else:
        w = model
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"expected a conv kernel (kh, kw, c_in, c_out), got shape {w.shape}")
    return np.moveaxis(w[:, :, 0, :], -1, 0)


def filter_responses(image, kernels: dict | None = None) -> dict[str, np.ndarray]:
    """The image convolved with each kernel (default: 3x3 blur and Laplace)."""
    if kernels is None:
        kernels = {"blur 3x3": blur_kernel(3), "Laplace": LAPLACE}
    return {name: convolve_image(image, k) for name, k in kernels.items()}


def plot_convolution_filters(image=None, model=None, *, member: int = 0, max_filters: int = 8):
    """Top row: an MNIST digit, blurred, and its Laplace edges. With a CNN ``model``, below:
    its learned first-layer kernels and the digit filtered by each."""
    if image is None:
        from sparsitylab.datasets import load_mnist5k

        image = load_mnist5k(return_X_y=True)[0][0]
    img = convolve_image(image, [[1.0]])
    responses = filter_responses(img)
    learned = learned_filters(model, member=member)[:max_filters] if model is not None else None
    ncols = max(3, 0 if learned is None else len(learned))
    nrows = 1 if learned is None else 3
    fig, axes = new_figure(figsize=(1.9 * ncols, 2.0 * nrows), ncols=ncols, nrows=nrows)
    axes = np.atleast_2d(axes)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, (title, im) in zip(axes[0], [("image", img), *responses.items()], strict=False):
        ax.imshow(im, cmap="gray")
        ax.set_title(title, fontsize="small")
    if learned is not None:
        for j, k in enumerate(learned):
            axes[1, j].imshow(k, cmap="coolwarm")
            axes[1, j].set_title(f"filter {j}", fontsize="small")
            axes[2, j].imshow(convolve_image(img, k[::-1, ::-1]), cmap="gray")
    return fig
