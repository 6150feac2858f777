"""`python -m tests.reviews.fault_worker STAGE`: `manage.py runworker --once` that SIGKILLs itself
when a training run reaches STAGE, through reviews.worker.training's observer seam (the kill
tests; production code has no fault switch).

    during_training   at the third optimisation step
    after_checkpoint  at the first optimisation step after a checkpoint was written (and, with an
                      object store, uploaded)
    before_rename     when the finished version is about to be renamed into the store

Options after STAGE go to runworker (e.g. --queues training).
"""

import os
import signal
import sys

SEEN: set[str] = set()


def _after_checkpoint(stage, details) -> bool:
    SEEN.add(stage)
    return stage == "step" and "checkpoint" in SEEN


KILL_AT = {
    "during_training": lambda stage, details: stage == "step" and details.get("step", 0) >= 2,
    "after_checkpoint": _after_checkpoint,
    "before_rename": lambda stage, details: stage == "before_save",
}


def main(fault: str, *options: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sentiment_site.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from reviews.worker import training

    def kill(stage, details):
        if KILL_AT[fault](stage, details):
            os.kill(os.getpid(), signal.SIGKILL)

    training.observers.append(kill)
    call_command("runworker", *options, once=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
