import os

import matplotlib
import pytest

# pytest-xdist workers sharing one GPU: each takes device memory as it needs it, not JAX's
# default of 75% of the device at its first computation (which leaves the next worker none).
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

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
