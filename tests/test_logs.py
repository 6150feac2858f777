"""SENTIMENT_LOG_FORMAT=json: one JSON object per line, for a log collector."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_record_formats_as_one_line_of_json_with_its_exception():
    """time, level, logger, message and the exception's text, on one line."""
    from sentiment_site.logs import JsonFormatter

    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        record = logging.getLogger("reviews.worker").makeRecord(
            "reviews.worker", logging.ERROR, __file__, 1, "job %s failed", ("explanations",), sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    body = json.loads(line)
    assert (body["level"], body["logger"], body["message"]) == ("ERROR", "reviews.worker", "job explanations failed")
    assert body["time"].endswith("Z") and "ValueError: bad\nvalue" in body["exception"]


def test_the_setting_switches_every_process_to_json(tmp_path):
    """A process started with SENTIMENT_LOG_FORMAT=json writes its log lines as JSON."""
    code = "import django, logging; django.setup(); logging.getLogger('reviews').warning('hello %s', 'there')"
    env = {**os.environ, "SENTIMENT_LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "sentiment_site.settings_test",
           "SENTIMENT_VAR_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert json.loads(line)["message"] == "hello there"
