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


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3-compatible server over HTTP (moto's standalone server, a separate process):
    the one .ci/run started (SENTIMENT_TEST_S3_ENDPOINT), else one started for this session."""
    import socket
    import subprocess
    import sys
    import time

    url = os.environ.get("SENTIMENT_TEST_S3_ENDPOINT")
    if url:
        yield url
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError("the S3 test server (python -m moto.server) did not start") from None
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=10)


S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "sentiment-tests", "AWS_SECRET_ACCESS_KEY": "sentiment-tests-secret",
                  "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch):
    """A new, empty bucket on the S3 test server: (endpoint, bucket name)."""
    import uuid

    import boto3

    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    bucket = f"models-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return s3_endpoint, bucket


@pytest.fixture
def s3_store(s3_bucket, settings, tmp_path):
    """The installation's model store in that bucket (s3://bucket/sentiment), this machine's
    cache in tmp_path/model-cache. Returns the store's URL."""
    from reviews import model_store

    endpoint, bucket = s3_bucket
    settings.SENTIMENT_MODEL_STORE = f"s3://{bucket}/sentiment"
    settings.SENTIMENT_S3_ENDPOINT_URL = endpoint
    settings.SENTIMENT_MODEL_CACHE = tmp_path / "model-cache"
    yield settings.SENTIMENT_MODEL_STORE
    model_store._stores.clear()
