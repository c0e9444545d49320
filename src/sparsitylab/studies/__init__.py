"""Studies: every experiment of the seeds, one command each.

``STUDIES`` maps a name to its :class:`Study`; a study is registered only when the pieces it
builds on import, so every listed study runs. ``run_study(get_study(name), out)`` writes
``out/<name>/report.html``, ``report.md``, ``metrics.json``, ``config.json``, the figures as PNG
and ``runs.jsonl`` (the streamed results that ``resume=True`` continues from); ``out/<name>/.lock``
exists while a run is in progress and refuses a second run into the same folder.
"""

from __future__ import annotations

import importlib

from sparsitylab.studies._framework import (
    MAX_SEEDS,
    DaskExecutor,
    Executor,
    InProcessExecutor,
    ProcessExecutor,
    Study,
    StudyError,
    StudyRun,
    Task,
    check_executor_options,
    make_executor,
    open_run,
    run_study,
    study_config,
)

__all__ = [
    "STUDIES",
    "Study",
    "Task",
    "Executor",
    "InProcessExecutor",
    "ProcessExecutor",
    "DaskExecutor",
    "StudyError",
    "StudyRun",
    "MAX_SEEDS",
    "check_executor_options",
    "get_study",
    "make_executor",
    "open_run",
    "run_study",
    "study_config",
]

# module -> the names of the studies it defines (in the order)
_MODULES = (
    "sparsitylab.studies.boston",
    "sparsitylab.studies.toy",
    "sparsitylab.studies.equivalence",
    "sparsitylab.studies.regions",
    "sparsitylab.studies.vanishing",
    "sparsitylab.studies.relu_linear",
    "sparsitylab.studies.depth",
    "sparsitylab.studies.topology",
    "sparsitylab.studies.selection",
)


def _discover() -> dict[str, Study]:
    found: dict[str, Study] = {}
    for module_name in _MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # its building blocks are not installed: the study is not offered
            continue
        for study in getattr(module, "STUDIES", None) or [module.STUDY]:
            found[study.name] = study
    return found


STUDIES: dict[str, Study] = _discover()


def get_study(name: str) -> Study:
    try:
        return STUDIES[name]
    except KeyError:
        raise StudyError(f"unknown study {name!r}; choose one of: {', '.join(STUDIES)}") from None
