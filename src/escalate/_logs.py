"""How the command line sets up logging: text or one JSON object per line, on
standard error. The library itself only logs (``escalate.engine``,
``escalate.outbox``) and never configures handlers; an embedding application
sets up logging its own way.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Final, TextIO

#: The attributes every LogRecord has: anything else came in through ``extra=``.
_STANDARD: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
) | {"message", "asctime", "taskName"}

#: -qq .. -vv
_LEVELS: Final = (
    logging.CRITICAL + 10,
    logging.ERROR,
    logging.WARNING,
    logging.INFO,
    logging.DEBUG,
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message,
    and every ``extra=`` field by name."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat()


def setup(verbosity: int, form: str, stream: TextIO) -> logging.Handler:
    """Log escalate's records at the level ``verbosity`` gives (0: warnings;
    each -v one level more, each -q one less) to ``stream``; returns the
    handler (to remove when the command ends)."""
    level = _LEVELS[max(0, min(len(_LEVELS) - 1, 2 + verbosity))]
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter()
        if form == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logger = logging.getLogger("escalate")
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler


def teardown(handler: logging.Handler) -> None:
    """Remove what :func:`setup` added."""
    logger = logging.getLogger("escalate")
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
