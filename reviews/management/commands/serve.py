import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from reviews.conf import conf


class Command(BaseCommand):
    help = "Run the site for real: gunicorn (web) and the worker together; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=conf.web.bind)
        parser.add_argument("--workers", type=int, default=conf.web.workers)
        parser.add_argument("--no-worker", action="store_true", help="web processes only")

    def handle(self, *args, bind, workers, no_worker, **options):
        env = {**os.environ, "SENTIMENT_BIND": bind, "SENTIMENT_WEB_WORKERS": str(workers)}
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        # Children get their own session: Ctrl-C reaches this process only, which then stops each
        # child once, gracefully (a second signal would cut gunicorn's graceful shutdown short).
        spawn = {"env": env, "cwd": settings.BASE_DIR, "start_new_session": True}
        children = {
            "web": subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(settings.BASE_DIR / "sentiment_site" / "gunicorn.conf.py")],
                **spawn,
            )
        }
        if not no_worker:
            children["worker"] = subprocess.Popen([*manage, "runworker"], **spawn)
        self.stdout.write(f"serving on http://{bind}/ with {workers} web worker(s){'' if no_worker else ' and the worker'}; Ctrl-C stops")
        stopping = {"now": False}

        def stop(signum, frame):
            stopping["now"] = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping["now"]:
                for name, child in children.items():
                    if child.poll() is not None:
                        self.stderr.write(f"{name} exited with status {child.returncode}; stopping")
                        stopping["now"] = True
                time.sleep(0.5)
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 30
            for child in children.values():
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
        self.stdout.write("stopped")
