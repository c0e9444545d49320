"""How the engine's programs are compiled: optimized (the default) or fast to compile.

On the CPU a short fit's time is mostly XLA's compilation of its program. Two XLA:CPU options,
:data:`FAST_COMPILE_OPTIONS` (LLVM optimization level 0, no fusion emitters), compile a program in
about a quarter of the time and make it run up to about twice as slowly
(``docs/benchmarks.md``, "Faster compilation, slower programs"). They pay where programs are
compiled often and run briefly: the objective divergence test of every fit (always), and
everything run inside :func:`fast_compilation` (``sparsitylab study --quick`` runs its tasks
there). Numbers equal the optimized programs' up to floating-point rounding. On other backends
the options do not apply and XLA's defaults are used.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import jax

FAST_COMPILE_OPTIONS = {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 0}

_FAST = contextvars.ContextVar("sparsitylab_fast_compilation", default=False)


@contextlib.contextmanager
def fast_compilation(enabled: bool = True) -> Iterator[None]:
    """Within the block, the training programs compiled by the engine (``train``, the estimators'
    fits, paths, sparse retraining) use :data:`FAST_COMPILE_OPTIONS` on the CPU: for many short
    fits, where compilation dominates. A program compiled earlier either way is kept for its
    own mode (the mode is part of the compiled program's cache key)."""
    token = _FAST.set(bool(enabled))
    try:
        yield
    finally:
        _FAST.reset(token)


def fast_requested() -> bool:
    """Whether the current context asked for :func:`fast_compilation`."""
    return _FAST.get()


def compiler_options(fast: bool) -> dict | None:
    """The ``compiler_options`` of ``jax.jit`` for a program compiled fast (``fast=True``) or
    optimized: ``None`` (XLA's defaults) unless fast on the CPU backend."""
    return dict(FAST_COMPILE_OPTIONS) if fast and jax.default_backend() == "cpu" else None
