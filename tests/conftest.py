import matplotlib
import pytest

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
