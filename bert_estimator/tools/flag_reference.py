"""docs/FLAGS.md, generated from run_classifier.py's flag definitions.

    python -m bert_estimator.tools.flag_reference > docs/FLAGS.md

The groups and their order are `run_classifier.FLAG_GROUPS` (as `--help` prints them); the
names, defaults and help texts are the flags' own, so the page cannot drift from the code:
tests/test_flag_reference.py compares docs/FLAGS.md with this program's output.
"""

from __future__ import annotations

import sys

import run_classifier

HEADER = """# run_classifier.py flags

Generated from the flag definitions in `run_classifier.py` by
`python -m bert_estimator.tools.flag_reference > docs/FLAGS.md` (a test checks that it
is current); `python run_classifier.py --help` prints the same, grouped the same way. The
original's flags keep their names and defaults; the others are this project's additions.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown() -> str:
    """The flag reference as a Markdown page: one table per group."""
    original = set(run_classifier.ORIGINAL_FLAGS)
    lines, previous = [HEADER], None
    for group, name, default, text in run_classifier.flag_rows():
        if group != previous:
            lines += ["", f"## {group}", "", "| flag | default | what it does |", "|---|---|---|"]
            previous = group
        origin = "" if name in original else " *(added)*"
        shown = f"`{default}`" if default else ""
        lines.append(f"| `--{name}`{origin} | {shown} | {_cell(text)} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
