import fcntl
import json
import os
from pathlib import Path

import matplotlib
import pytest

# pytest-xdist workers sharing one GPU: each takes device memory as it needs it, not JAX's
# default of 75% of the device at its first computation (which leaves the next worker none).
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

# The suite compiles some hundreds of small training programs and runs each briefly, so XLA's
# compilation dominates its time: every program is compiled with the engine's fast-compile
# options (sparsitylab.engine.compilation; numbers equal up to rounding), as XLA flags. XLA
# reads them when JAX starts its backend, at the first computation, which no import does, so
# writing them here, before any test runs, applies them. A flag the user set is kept.
from sparsitylab.engine.compilation import FAST_COMPILE_OPTIONS  # noqa: E402

_flags = os.environ.get("XLA_FLAGS", "")
for _name, _value in FAST_COMPILE_OPTIONS.items():
    if _name not in _flags:
        _flags += f" --{_name}={str(_value).lower()}"
os.environ["XLA_FLAGS"] = _flags.strip()

matplotlib.use("Agg")


@pytest.fixture
def interrupting():
    """An in-process executor class whose run raises ``KeyboardInterrupt`` after ``after`` tasks."""
    from sparsitylab.studies import InProcessExecutor

    class Interrupting(InProcessExecutor):
        def __init__(self, after):
            self.after = after

        def run(self, tasks):
            for i, item in enumerate(super().run(tasks)):
                if i == self.after:
                    raise KeyboardInterrupt
                yield item

    return Interrupting


@pytest.fixture(scope="session")
def quick_study(tmp_path_factory):
    """``quick_study(name)``: the paths of one ``--quick`` run of the registered study ``name``,
    run once for the whole suite. Under pytest-xdist the workers share the runs: the first to
    ask runs the study under a file lock while any other waits for it, then reads its files."""
    from sparsitylab.studies import get_study, run_study

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the workers' common folder
    root = root / "quick-studies"
    root.mkdir(exist_ok=True)
    cache = {}

    def get(name):
        if name not in cache:
            index = root / f"{name}.json"
            with open(root / f"{name}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not index.exists():
                    paths = run_study(get_study(name), root, quick=True)
                    index.write_text(json.dumps({k: str(v) for k, v in paths.items()}))
            cache[name] = {k: Path(v) for k, v in json.loads(index.read_text()).items()}
        return cache[name]

    return get
