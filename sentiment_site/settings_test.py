"""Settings for the test suite: the site's own, with debug on at import as in `make dev` (plain
static files, a development key made on demand). pytest-django still runs every view with debug
off, and tests of the production defaults start processes with a clean environment."""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")
# One signing key for the test process and the workers and web servers it starts (each of which
# may have a data folder, and so a secret key, of its own).
os.environ.setdefault("SENTIMENT_MODEL_SIGNING_KEY", "tests-model-signing-key")

from sentiment_site.settings import *  # noqa: E402,F403
