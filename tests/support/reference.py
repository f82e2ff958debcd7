"""Loads Google's original BERT code (the `bert-tensorflow==1.0.4` wheel) under TF 2.15.

The original is our independent reference: tests compare our modules with it on the
same inputs. It needs three shims to import on TF 2.15:

* `tensorflow.contrib` is gone: `contrib.layers.layer_norm` is provided by `tf_slim`
  (the same code that contrib shipped, epsilon 1e-12).
* `tf.gfile` / `tf.flags` live under `tensorflow.compat.v1`, which the wheel imports.
* The original defines its flags (`data_dir`, `preserve_unused_tokens`...) on the
  global absl `FLAGS` at import, which would clash with ours. It is imported with the
  define functions pointed at a private `FlagValues`, marked as parsed.

Usage::

    from tests.support import reference
    orig_tokenization = reference.load("tokenization")
"""

from __future__ import annotations

import importlib
import sys
import types

from bert_estimator.convert import verify

_LOADED: dict[str, types.ModuleType] = {}


def install_shims() -> None:
    """Provides `tensorflow.contrib.layers` (from tf_slim), which the original imports."""
    verify.install_contrib_shim()


_DEFINES = ("DEFINE_string", "DEFINE_bool", "DEFINE_boolean", "DEFINE_integer", "DEFINE_float")


def _private_flag_import(module_name: str) -> types.ModuleType:
    """Imports `module_name` with every absl define and `FLAGS` redirected to a private
    `FlagValues`, so the original's flags never reach the process-wide `FLAGS`."""
    import functools

    from absl import flags as absl_flags
    from tensorflow.python.platform import flags as tf_flags

    private = absl_flags.FlagValues()
    saved = []
    for mod in (absl_flags, tf_flags):
        for name in _DEFINES + ("FLAGS",):
            saved.append((mod, name, getattr(mod, name)))
            if name == "FLAGS":
                setattr(mod, name, private)
            else:
                setattr(mod, name, functools.partial(getattr(absl_flags, name), flag_values=private))
    try:
        module = importlib.import_module(module_name)
    finally:
        for mod, name, value in saved:
            setattr(mod, name, value)
    private.mark_as_parsed()
    module.FLAGS = private
    return module


def available() -> bool:
    """True when the reference wheel and its shims can be imported."""
    try:
        import bert  # noqa: F401
        import tf_slim  # noqa: F401
    except ImportError:
        return False
    return True


def load(name: str) -> types.ModuleType:
    """Returns the original `bert.<name>` module (tokenization, modeling, optimization,
    run_classifier), imported once with the TF 2.15 shims in place."""
    if name not in _LOADED:
        install_shims()
        # run_classifier imports the other three: load them first, each privately.
        for dep in ("tokenization", "modeling", "optimization"):
            if dep != name and f"bert.{dep}" not in sys.modules and name == "run_classifier":
                _LOADED[dep] = _private_flag_import(f"bert.{dep}")
        _LOADED[name] = _private_flag_import(f"bert.{name}")
    return _LOADED[name]


def run_original_classifier() -> None:
    """Runs the original `run_classifier.main` on this process's command line."""
    install_shims()
    import tensorflow.compat.v1 as tf

    # The original reads `.shape[-1].value`: TF1's Dimension objects.
    tf.disable_v2_tensorshape()
    from absl import app
    from bert import run_classifier

    app.run(run_classifier.main)


if __name__ == "__main__":
    run_original_classifier()
