"""Run the solvers with single-threaded BLAS.

The solvers alternate many small numpy/scipy calls (OpenBLAS) with small JAX programs (XLA's own
thread pool). OpenBLAS worker threads keep spinning after each call and starve XLA's threads:
measured on a 2-core machine, one variable-projection step took 110 ms with the default BLAS
threads and 1.3 ms with one. The working-set problems are small, so one BLAS thread loses nothing.

The thread-pool controller is built once: building it scans the process's loaded libraries, which
costs milliseconds, more than a whole path on a small problem.
"""

from __future__ import annotations

import functools

from threadpoolctl import ThreadpoolController

_CONTROLLER: ThreadpoolController | None = None


def _controller() -> ThreadpoolController:
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def single_threaded_blas(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _controller().limit(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper
