"""Settings for the test suite: the site's own, with debug on at import as in `make dev` (plain
static files, a development key made on demand). pytest-django still runs every view with debug
off, and tests of the production defaults start processes with a clean environment."""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")
# One signing key for the test process and the workers and web servers it starts (each of which
# may have a data folder, and so a secret key, of its own).
os.environ.setdefault("SENTIMENT_MODEL_SIGNING_KEY", "tests-model-signing-key")
# One secret key for every run of the suite: what it keys (which corrections are held out, the
# client hashes) is then the same on every machine, so a test's outcome does not depend on the
# installation's random key.
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-secret-key-not-for-production-0123456789abcdef")

# Exporting a version to ONNX costs seconds even for a tiny model: the workers of the suite build
# without it, and the tests of the export (tests/modeling/test_onnx_runtime.py, the worker's) turn it on.
os.environ.setdefault("SENTIMENT_ONNX_EXPORT", "false")

from sentiment_site.settings import *  # noqa: E402,F403
