"""What settings.LOGGING plugs in: the JSON formatter (SENTIMENT_LOG_FORMAT=json, one object per
line for a log collector; plain text stays the default), and the filter that keeps APScheduler's
expected "skipped" warnings out of the worker's log."""

import json
import logging
from datetime import datetime, timezone


class JsonFormatter(logging.Formatter):
    """time (UTC, ISO 8601), level, logger, message, and exception (its traceback) when the record
    has one. json.dumps escapes newlines, so a traceback stays on its record's one line."""

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(record.created, tz=timezone.utc)
        body = {
            "time": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            body["exception"] = record.exc_text
        if record.stack_info:
            body["stack"] = self.formatStack(record.stack_info)
        return json.dumps(body, ensure_ascii=False, default=str)


class BusyJobSkips(logging.Filter):
    """APScheduler warns on every tick of a job whose previous run is still going ("skipped:
    maximum number of running instances reached"): every 5 s for a whole training run. One run of
    a job at a time is this worker's design, so the line is DEBUG, shown only when debugging."""

    MARK = "maximum number of running instances reached"

    def filter(self, record: logging.LogRecord) -> bool:
        if self.MARK not in str(record.msg):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
