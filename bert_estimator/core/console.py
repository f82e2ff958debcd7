"""What a run prints on the console, and the full log in a file.

TensorFlow's INFO log, as the original `run_classifier.py` prints it (the example dumps,
every variable of every mode, TensorFlow's deprecation notices...), is a wall of about a
thousand lines in which the lines a user acts on drown. A run therefore logs in two places:

* the console shows the lines marked for it (`show`: the settings, data preparation and
  training progress, each evaluation's metrics, where the outputs went), errors, and this
  project's warnings (what a user can act on); TensorFlow's deprecation notices and its
  other warnings about its own internals are not among them;
* the file `<output_dir>/run_classifier.log` gets every line, in TensorFlow's own format,
  from the start of the run: lines logged before the output directory exists are held
  in memory and written when it does (`attach_log_file`), so a run stopped by a bad flag
  writes no file.

`setup(verbose=True)` (`--verbose`) shows everything on the console again, as the original did.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import warnings

import tensorflow.compat.v1 as tf

LOG_FILE = "run_classifier.log"
# The first line of each run in the log file (a resumed run appends to it), with its command line.
RUN_STARTED = "===== run_classifier.py started:"
# `extra=` of a log call whose line the console shows.
CONSOLE = {"console": True}
# TensorFlow's own handler format: the log file reads as the original's console did.
FILE_FORMAT = logging.BASIC_FORMAT
_DEPRECATION_MARKERS = ("is deprecated", "deprecation.py", "will be removed in a future version",
                        "Instructions for updating")


# Where this project's modules live (a checkout or site-packages): bert_estimator/ and, beside
# it, processors/ and the original's top-level modules.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ROOT = os.path.dirname(_PACKAGE_DIR)
_OUR_PATHS = (_PACKAGE_DIR + os.sep, os.path.join(_ROOT, "processors") + os.sep,
              *(os.path.join(_ROOT, f"{name}.py") for name in ("run_classifier", "modeling", "tokenization",
                                                                  "optimization")))


def show(message: str, *args) -> None:
    """Logs an INFO line that the console shows (and the log file keeps)."""
    tf.get_logger().info(message, *args, extra=CONSOLE)


def is_ours(record: logging.LogRecord) -> bool:
    """True for a line logged by this project's code (not TensorFlow's or a library's)."""
    return os.path.abspath(record.pathname).startswith(_OUR_PATHS)


def is_deprecation_notice(record: logging.LogRecord) -> bool:
    """True for TensorFlow's (and Python's) notices of deprecated APIs: nothing a user of
    this program can act on."""
    text = f"{record.pathname} {record.getMessage()}"
    return any(marker in text for marker in _DEPRECATION_MARKERS)


class ConsoleFilter(logging.Filter):
    """Passes the lines marked with `CONSOLE`, errors, and this project's warnings other
    than deprecation notices (TensorFlow's own warnings, e.g. that `params` is unused or
    `eval_on_tpu` ignored off TPU, name nothing a user can change); with `verbose`,
    everything."""

    def __init__(self, verbose: bool = False):
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if self.verbose:
            return True
        if getattr(record, "console", False):
            return True
        if record.levelno >= logging.ERROR:
            return True
        return record.levelno >= logging.WARNING and is_ours(record) and not is_deprecation_notice(record)


class _ConsoleFormatter(logging.Formatter):
    """The message alone for marked lines; `WARNING: ...` for the others."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            return f"{record.levelname}: {message}"
        return message


class RunLog:
    """The handlers of one run: a console handler on stderr and, once the output
    directory exists, the log file (lines before that are buffered)."""

    def __init__(self, verbose: bool = False, stream=None):
        self.logger = tf.get_logger()
        self.console = logging.StreamHandler(stream or sys.stderr)
        self.console.addFilter(ConsoleFilter(verbose))
        self.console.setFormatter(logging.Formatter(FILE_FORMAT) if verbose else _ConsoleFormatter())
        # Everything, until the file exists (capacity: a run's start logs a few thousand lines).
        self.buffer = logging.handlers.MemoryHandler(capacity=1_000_000, flushLevel=logging.CRITICAL + 1)
        self.file_handler = None
        self._saved = None

    def install(self) -> RunLog:
        """Routes TensorFlow's logger (and Python's warnings) through this run's handlers."""
        self._saved = (list(self.logger.handlers), self.logger.level, self.logger.propagate)
        for handler in self._saved[0]:
            self.logger.removeHandler(handler)
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False  # one copy of each line, even if a library set up logging
        self.logger.addHandler(self.console)
        self.logger.addHandler(self.buffer)
        self.logger.info("%s %s", RUN_STARTED, " ".join(sys.argv))  # the first line of the run in the file
        logging.captureWarnings(True)
        py_warnings = logging.getLogger("py.warnings")
        py_warnings.propagate = False
        py_warnings.handlers = [self.buffer]  # to the log file only
        warnings.simplefilter("default")
        return self

    def attach_log_file(self, path: str) -> str:
        """Starts the log file `path` (appending: a resumed run keeps the earlier runs'
        lines, each run's starting with `RUN_STARTED`) and writes the buffered lines to it;
        returns `path`."""
        if self.file_handler is None:
            self.file_handler = logging.FileHandler(path, encoding="utf-8")
            self.file_handler.setFormatter(logging.Formatter(FILE_FORMAT))
            self.buffer.setTarget(self.file_handler)
            self.buffer.flush()
            self.logger.removeHandler(self.buffer)
            self.logger.addHandler(self.file_handler)
            logging.getLogger("py.warnings").handlers = [self.file_handler]
        return path

    def uninstall(self) -> None:
        """Gives the logger back its earlier handlers and closes the file."""
        for handler in (self.console, self.buffer, self.file_handler):
            if handler is not None:
                self.logger.removeHandler(handler)
        if self._saved is not None:
            handlers, level, propagate = self._saved
            for handler in handlers:
                self.logger.addHandler(handler)
            self.logger.setLevel(level)
            self.logger.propagate = propagate
        logging.captureWarnings(False)
        logging.getLogger("py.warnings").handlers = []
        if self.file_handler is not None:
            self.file_handler.close()
        self.buffer.close()
