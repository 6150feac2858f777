import os

import pytest

# Tests never wait on the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Worker subprocesses started by tests do not compile explainers in the background either.
os.environ.setdefault("SENTIMENT_EXPLAIN_COMPILE", "0")


@pytest.fixture(autouse=True)
def _no_background_compiling(settings):
    """No explainer compiles its forward pass in a thread during tests (~20 s of CPU each);
    tests/modeling/test_registry_serving.py compiles one on purpose."""
    settings.SENTIMENT_EXPLAIN_COMPILE = False
