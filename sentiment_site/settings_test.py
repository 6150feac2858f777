"""Settings for the test suite: the site's own, with debug on at import as in `make dev` (plain
static files, a development key made on demand). pytest-django still runs every view with debug
off, and tests of the production defaults start processes with a clean environment."""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")

from sentiment_site.settings import *  # noqa: E402,F403
