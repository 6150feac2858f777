"""The site for real, for benchmarks: `manage.py serve` (gunicorn, and the worker unless asked
not to) on a free local port of this installation, rate limits off, stopped afterwards."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from http.cookiejar import CookieJar

import _bootstrap

UNLIMITED = {f"SENTIMENT_RATE_{scope}_{who}": "none" for scope in ("PREDICT", "EXPLAIN") for who in ("ANON", "USER")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """JSON over HTTP to one server, with its own cookies (an anonymous visitor is a session)."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with self.opener.open(request, timeout=120) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, json.loads(exc.read() or b"{}")
            except ValueError:  # not JSON (a proxy's or server's own error page)
                return exc.code, {}


@contextlib.contextmanager
def serve(env: dict, *, worker: bool, ready_timeout: float = 180.0):
    """A running site; yields its base URL once both web processes answer with a loaded model."""
    port = free_port()
    env = {**env, **UNLIMITED, "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"}
    command = [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{port}", *([] if worker else ["--no-worker"])]
    server = subprocess.Popen(command, cwd=_bootstrap.ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        client, deadline = Client(base), time.monotonic() + ready_timeout
        while True:
            try:
                if all(client.call("POST", "/api/v1/predict", {"text": "warm up"})[0] == 200 for _ in range(8)):
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the site did not start: {server.stderr.read().decode()[-2000:]}")
            time.sleep(1)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
