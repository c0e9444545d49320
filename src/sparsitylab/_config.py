"""Process-wide JAX settings, applied once when sparsitylab is imported.

* 64-bit types are enabled so certificates (duality gaps of 1e-8 and below) can be computed in
  float64; the training engine still defaults to float32 arrays, chosen explicitly.
* JAX's persistent compilation cache is switched on (unless the user configured one), so a new
  process re-uses compiled training programs instead of compiling them again. Its folder is
  ``$SPARSITYLAB_CACHE_DIR`` or ``~/.cache/sparsitylab/jax``; set ``SPARSITYLAB_CACHE_DIR=off``
  to leave the cache alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)


def _enable_compilation_cache() -> None:
    target = os.environ.get("SPARSITYLAB_CACHE_DIR", "")
    if target.lower() == "off" or jax.config.jax_compilation_cache_dir:
        return
    path = Path(target) if target else Path.home() / ".cache" / "sparsitylab" / "jax"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # read-only home: run without the cache
        return
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


_enable_compilation_cache()
