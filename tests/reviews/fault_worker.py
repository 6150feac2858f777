"""`python -m tests.reviews.fault_worker STAGE`: `manage.py runworker --once` that SIGKILLs itself
when a training run reaches STAGE, through reviews.worker.training's observer seam (the kill
tests; production code has no fault switch).

    during_training   at the third optimisation step
    before_rename     when the finished version is about to be renamed into the store
"""

import os
import signal
import sys

KILL_AT = {
    "during_training": lambda stage, details: stage == "step" and details.get("step", 0) >= 2,
    "before_rename": lambda stage, details: stage == "before_save",
}


def main(fault: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sentiment_site.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from reviews.worker import training

    def kill(stage, details):
        if KILL_AT[fault](stage, details):
            os.kill(os.getpid(), signal.SIGKILL)

    training.observers.append(kill)
    call_command("runworker", once=True)


if __name__ == "__main__":
    main(sys.argv[1])
