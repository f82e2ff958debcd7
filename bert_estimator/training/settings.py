"""The settings of a `run_classifier.py` run: its flags, read once.

`run_classifier.main` builds one `Settings` from absl's FLAGS (`Settings.from_flags`)
and hands it, or the fields they need, to the checks, the Estimator set-up and the
steps; nothing below `main` reads FLAGS. The fields are named as the flags (the flags
are the public vocabulary: `--max_seq_length` is `settings.max_seq_length`), and hold
their parsed values; the flags themselves, with their defaults and help, are defined
in run_classifier.py. tests/test_settings.py keeps the two in step: every flag of
run_classifier.py is a field of the same type, and every field but the derived ones
(`DERIVED_FIELDS`) is a flag.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from absl import flags

# Fields that are no flag: computed from the flags by `Settings.from_flags`.
DERIVED_FIELDS = frozenset({"given_flags"})


@dataclasses.dataclass(frozen=True)
class Settings:
    """The flags of a run (run_classifier.py documents each), plus `given_flags`."""

    # The original's flags.
    data_dir: Optional[str]
    bert_config_file: Optional[str]
    task_name: Optional[str]
    vocab_file: Optional[str]
    output_dir: Optional[str]
    init_checkpoint: Optional[str]
    do_lower_case: bool
    max_seq_length: int
    do_train: bool
    do_eval: bool
    do_predict: bool
    train_batch_size: int
    eval_batch_size: int
    predict_batch_size: int
    learning_rate: float
    num_train_epochs: float
    warmup_proportion: float
    save_checkpoints_steps: int
    iterations_per_loop: int
    use_tpu: bool
    tpu_name: Optional[str]
    tpu_zone: Optional[str]
    gcp_project: Optional[str]
    master: Optional[str]
    num_tpu_cores: int
    tpu_job_name: Optional[str]
    # This project's: the model and its casing.
    bert_hub_module_handle: Optional[str]
    allow_casing_mismatch: bool
    reinitialize_head: bool
    seed: Optional[int]
    truncation_strategy: str
    # The tasks' options (processors.OPTION_FLAGS).
    xnli_language: str
    text_column: Optional[str]
    text_b_column: Optional[str]
    label_column: Optional[str]
    labels: Optional[tuple[str, ...]]
    train_file: Optional[str]
    dev_file: Optional[str]
    test_file: Optional[str]
    imdb_dev_split: Optional[str]
    dev_fraction: Optional[float]
    problem_type: Optional[str]
    label_separator: Optional[str]
    # Outputs.
    export_dir: Optional[str]
    export_version: Optional[int]
    write_reports: bool
    save_summary_steps: int
    keep_checkpoint_max: int
    log_every_seconds: int
    verbose: bool
    # Training: devices, data order, optimizer.
    distribution_strategy: str
    num_gpus: int
    shuffle_buffer_size: int
    adam_bias_correction: bool
    class_weights: Optional[str]
    # Evaluation during training.
    evaluate_every_n_steps: int
    evaluate_every_epoch: bool
    best_metric: Optional[str]
    early_stopping_patience: int
    predict_from: str
    tune_thresholds: bool
    # Guards' overrides.
    allow_untrained_head: bool
    allow_single_label: bool
    # Speed.
    bucket_by_length: bool
    fixed_padding: bool
    use_xla: bool
    use_amp: bool
    num_accumulation_steps: int
    # Derived: the flags set on the command line (or by assignment to FLAGS) rather than
    # left at their default, even when set to the default value.
    given_flags: frozenset[str]

    @classmethod
    def flag_names(cls) -> list[str]:
        """The fields that are flags, in definition order."""
        return [f.name for f in dataclasses.fields(cls) if f.name not in DERIVED_FIELDS]

    @classmethod
    def from_flags(cls, flag_values: flags.FlagValues) -> Settings:
        """The settings of the parsed `flag_values` (absl's FLAGS). A list flag's value
        becomes a tuple (the settings are immutable)."""
        values = {}
        for name in cls.flag_names():
            value = flag_values[name].value
            values[name] = tuple(value) if isinstance(value, list) else value
        given = frozenset(name for name in values if not flag_values[name].using_default_value)
        return cls(**values, given_flags=given)

    def given(self, name: str) -> bool:
        """Whether flag `name` was set rather than left at its default.

        Raises:
          KeyError: `name` is not a flag.
        """
        if name not in self.__dataclass_fields__ or name in DERIVED_FIELDS:
            raise KeyError(f"no flag --{name}")
        return name in self.given_flags
