"""The floor: a human-written minimum battery that runs on every target before any controller
acts (automation level 1 under whatever level the controller has), so no controller, however
it chooses, can leave a study without it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from neurath._errors import ResearchError
from neurath.research._controllers import ScriptedController, _done
from neurath.research._environment import ResearchEnvironment


def run_floor(
    env: ResearchEnvironment, floor: Sequence[str], progress: Callable[[str], None] | None = None
) -> None:
    """Run ``floor`` on every target at the study's parameters and seed, written to the audit
    log as the ``floor``'s actions (already done ones, on a resumed run, are not repeated).

    Raises:
        ResearchError: The budget could not pay for all of it: a controller must not start
            without its floor.
    """
    if not floor:
        return
    actor, env.actor = env.actor, "floor"
    try:
        ScriptedController(list(floor)).run(env, progress=progress)
    finally:
        env.actor = actor
    missing = [
        (t, e)
        for t in env.target_ids
        for e in floor
        if e in env.experiments() and not _done(env, t, e, env.seed)
    ]
    if missing:
        t, e = missing[0]
        raise ResearchError(
            f"the study's floor did not fit its budget ({e} on {t} and {len(missing) - 1} more "
            "not run): raise the budget or shorten the floor"
        )
