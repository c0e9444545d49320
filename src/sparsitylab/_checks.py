"""Input checks shared by every layer (no sparsitylab imports)."""

from __future__ import annotations

import numpy as np

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def to_float32(A, input_name="X"):
    """``A`` (validated float64) as float32, refusing values beyond float32's range (they would
    become inf)."""
    if A.size and np.max(np.abs(A)) > _FLOAT32_MAX:
        raise ValueError(
            f"{input_name} has values beyond float32's range (|value| > {_FLOAT32_MAX:.3g}); the "
            f"networks compute in float32: rescale or standardize {input_name} first"
        )
    return A.astype(np.float32)
