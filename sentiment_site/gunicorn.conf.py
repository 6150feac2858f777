"""gunicorn settings for `make run` (manage.py serve). No preload: forking a process that has
already imported PyTorch can hang, so every worker imports the app (and torch) itself."""

import os

from pathlib import Path

from reviews.conf import from_environment

_env = from_environment(Path(__file__).resolve().parent.parent)

workers = _env["SENTIMENT_WEB_WORKERS"]
bind = _env["SENTIMENT_BIND"]
preload_app = False
worker_class = "gthread"
threads = _env["SENTIMENT_WEB_THREADS"]
timeout = 120
graceful_timeout = 20
accesslog = "-"
wsgi_app = "sentiment_site.wsgi:application"


def post_fork(server, worker):
    # Share the cores between web workers instead of each taking them all (0, the default, is
    # "torch decides", which would give every worker every core).
    if not _env["SENTIMENT_TORCH_THREADS"]:
        os.environ["SENTIMENT_TORCH_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))


def post_worker_init(worker):
    # Warm the active model off the request path so the first request does not pay for it.
    import threading

    def warm():
        from django.db import connections

        from reviews.predictor import current_predictor

        try:
            current_predictor()
        except Exception:  # a warm-up failure must never stop the worker; requests retry
            worker.log.exception("model warm-up failed")
        finally:
            connections.close_all()

    threading.Thread(target=warm, name="warm-model", daemon=True).start()
