"""Run the solvers with single-threaded BLAS.

The solvers alternate many small numpy/scipy calls (OpenBLAS) with small JAX programs (XLA's own
thread pool). OpenBLAS worker threads keep spinning after each call and starve XLA's threads:
measured on a 2-core machine, one variable-projection step took 110 ms with the default BLAS
threads and 1.3 ms with one. The working-set problems are small, so one BLAS thread loses nothing.
"""

from __future__ import annotations

import functools

from threadpoolctl import threadpool_limits


def single_threaded_blas(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper
