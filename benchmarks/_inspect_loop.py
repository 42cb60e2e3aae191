"""Timing Inspect's own eval loop on an organism: the baseline the batched paths are
compared with (shared by bench_organisms.py and bench_battery.py)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path


def inspect_samples_per_second(organisms: Path, organism: str, prompts: Sequence[str]) -> float:
    """Push ``prompts`` through ``inspect eval`` (generate, then a string match) against
    ``organism/<id>`` and return the samples per second of the whole loop."""
    from inspect_ai import Task, eval
    from inspect_ai.dataset import Sample
    from inspect_ai.scorer import match
    from inspect_ai.solver import generate

    os.environ["NEURATH_ORGANISMS"] = str(organisms)
    task = Task(
        dataset=[Sample(input=p, target="action") for p in prompts],
        solver=generate(),
        scorer=match(location="any"),
    )
    t0 = time.perf_counter()
    logs = eval(
        task,
        model=f"organism/{organism}",
        display="none",
        log_dir=str(Path(tempfile.mkdtemp()) / "logs"),
        max_connections=1,
    )
    assert logs[0].status == "success", logs[0].error
    return len(prompts) / (time.perf_counter() - t0)
