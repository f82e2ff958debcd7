"""The documentation's commands run as written: every command quoted in README.md and
docs/*.md names a file that exists and only flags its program knows.

What counts as a command, and how it is read:

* fenced code blocks tagged `bash`, `sh`, `shell`, `console` or untagged, line by line
  (backslash continuations and quotes spanning lines joined, `#` comments dropped, split
  at `|`, `&&`, `;` and `$(...)`), and inline code spans that start with a command;
* a command is ours when its program is `python X.py`, `python -m <our module>`, a
  `*.py`/`*.sh` path, a `bert-*` console script of setup.py, `make`, `pytest` or `pip`;
  anything else (`docker`, `curl`, `saved_model_cli`, `hf`, ...) is not checked;
* the program's flags come from its own help, parsed: `run_classifier.py --helpfull`
  (absl), `--help` for the argparse programs (`<program> <subcommand> --help` when the
  command names a subcommand); a shell script's flags are those of the program its help
  says they go to ("Flags given ... go to run_classifier.py"), and the environment
  variables set before it must be named in its help; `make`'s targets and variables come
  from the Makefile, and `pip -c/-r` files and `pytest` paths must exist.

Beside commands, every repository path in an inline code span (`bench/accuracy.sh`,
`tests/test_x.py::test_name`) and every relative link must exist, anchors included.

Known exceptions are listed below with their reason. A pending one (something the docs
name that this change is still adding) fails the test once it exists, so that the list
never goes stale.
"""

from __future__ import annotations

import ast
import concurrent.futures
import dataclasses
import functools
import os
import re
import shlex
import subprocess
import sys
import unicodedata

import pytest

from tests.conftest import PROJECT_ROOT

DOC_FILES = ["README.md"] + sorted(
    os.path.join("docs", name) for name in os.listdir(os.path.join(PROJECT_ROOT, "docs")) if name.endswith(".md"))

# ------------------------------------------------------------------ known exceptions
# absl defines these itself, and `--helpfull` does not list them.
ABSL_HELP_FLAGS = {"--help", "--helpfull", "--helpshort", "--helpxml", "-?"}
# Programs the docs name that are not files of this repository.
EXTERNAL_FILES = {
    "run_classifier_with_tfhub.py": "a program of Google's bert-tensorflow wheel (tests/test_original_programs.py)",
    "extract_features.py": "a program of Google's bert-tensorflow wheel (tests/test_original_programs.py)",
}
# Removed files the docs name on purpose, where the figures they produced are shown:
# path -> the commit that last has it (checked with git when the checkout has its history).
HISTORICAL_FILES = {
    "bench/profile_variants.py": "2829954",  # docs/BENCHMARKS.md, section 2: the float32 variants
}
# Pending: named in the docs and being added in this change. Each entry fails the test as
# soon as what it names exists: delete it then.
PENDING_FLAGS: dict[tuple[str, str], str] = {}  # (program, flag): reason
PENDING_CONSOLE_SCRIPTS: dict[str, str] = {}
PENDING_FILES: dict[str, str] = {}

SHELL_FENCES = {"", "bash", "sh", "shell", "console"}
SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")", "|&", ";;"}
REDIRECTIONS = re.compile(r"^[0-9]*[<>]+&?$|^>&$|^&>$")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
PYTHON = re.compile(r"^(?:.*/)?python(?:3(?:\.\d+)?)?$")
REPO_TOP = {name for name in os.listdir(PROJECT_ROOT) if not name.startswith(".")}
HELP_TIMEOUT = 180


# ------------------------------------------------------------------ reading markdown
@dataclasses.dataclass(frozen=True)
class Quote:
    """A piece of a document: a command line, an inline code span or a link target."""

    doc: str
    line: int
    text: str

    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def strip_comment(line: str) -> str:
    """`line` without its shell comment: a `#` that starts a word outside quotes."""
    quote, escaped = None, False
    for i, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def logical_lines(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Shell lines joined across backslash continuations and quotes left open."""
    result, i = [], 0
    while i < len(lines):
        number, text = lines[i]
        text = strip_comment(text)
        while True:
            if text.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                text = text.rstrip()[:-1] + " " + strip_comment(lines[i][1])
                continue
            try:
                shlex.split(text)
            except ValueError:  # a quote spans lines
                if i + 1 < len(lines):
                    i += 1
                    text = text + "\n" + lines[i][1]
                    continue
            break
        text = strip_comment(text)
        if text.strip():
            result.append((number, text))
        i += 1
    return result


def read_doc(doc: str) -> tuple[list[Quote], list[Quote], list[Quote]]:
    """(command lines of shell blocks, inline code spans, link targets) of `doc`."""
    with open(os.path.join(PROJECT_ROOT, doc), encoding="utf-8") as f:
        lines = f.read().split("\n")
    commands, spans, links = [], [], []
    fence, language, block = None, None, []
    in_comment = False
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if fence:
            if stripped == fence:
                if language in SHELL_FENCES:
                    commands += [Quote(doc, n, text) for n, text in logical_lines(block)]
                fence, block = None, []
            else:
                block.append((number, line))
            continue
        match = re.match(r"^(`{3,}|~{3,})\s*([\w+-]*)", stripped)
        if match:
            fence, language = match.group(1), match.group(2).lower()
            continue
        if in_comment or stripped.startswith("<!--"):
            in_comment = "-->" not in stripped
            continue
        for span in re.finditer(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", line):
            spans.append(Quote(doc, number, span.group(2).strip()))
        prose = re.sub(r"(`+).+?\1", "", line)
        for link in re.finditer(r"\]\(([^)\s]+)\)", prose):
            links.append(Quote(doc, number, link.group(1)))
    assert fence is None, f"{doc}: a code block opened with {fence} is never closed"
    return commands, spans, links


# ------------------------------------------------------------------ reading commands
def tokenize(text: str) -> list[str]:
    """Shell words of `text`; `|`, `&&`, `;`, `(`, `)` and redirections are words of their own."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    return list(lexer)


def segments(text: str) -> list[list[str]]:
    """The simple commands of a shell line, redirections dropped."""
    result, current, tokens = [], [], tokenize(text)
    skip = False
    for i, token in enumerate(tokens):
        if skip:
            skip = False
        elif token in SEPARATORS:
            result.append(current)
            current = []
        elif REDIRECTIONS.match(token):
            skip = True  # and its file
        elif token.isdigit() and i + 1 < len(tokens) and REDIRECTIONS.match(tokens[i + 1]):
            pass  # the descriptor of `2>&1`
        else:
            current.append(token)
    result.append(current)
    return [segment for segment in result if segment]


COMMAND_START = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*(?:\S*python[\d.]*|make|pytest|\S*pip3?|bert-[\w-]+"
                           r"|[\w./-]+\.(?:py|sh))(?:\s|$)")


def is_command_span(text: str) -> bool:
    """Whether an inline code span quotes a command. A lone `bert-x` is one only when it
    names a console script: in prose it is more often a model id (`bert-base-uncased`)."""
    if not COMMAND_START.match(text):
        return False
    words = text.split()
    lone_name = len(words) == 1 and words[0].startswith("bert-")
    return not lone_name or words[0] in console_scripts() or words[0] in PENDING_CONSOLE_SCRIPTS


# ------------------------------------------------------------------ the repository
@functools.cache
def console_scripts() -> dict[str, str]:
    """setup.py's console scripts: name -> "module:function"."""
    with open(os.path.join(PROJECT_ROOT, "setup.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "console_scripts":
                    entries = [ast.literal_eval(element) for element in value.elts]
                    return dict(tuple(part.strip() for part in entry.split("=", 1)) for entry in entries)
    raise AssertionError("setup.py has no console_scripts")


@functools.cache
def makefile() -> tuple[set[str], set[str]]:
    """(targets, variables) of the Makefile."""
    with open(os.path.join(PROJECT_ROOT, "Makefile"), encoding="utf-8") as f:
        text = f.read()
    targets = set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.MULTILINE)) - {".PHONY"}
    variables = set(re.findall(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*[?:+]?=", text, re.MULTILINE))
    return targets, variables


def module_file(module: str) -> str | None:
    """The repository file of `module`, None when it is not ours."""
    parts = module.split(".")
    if parts[0] not in {name[:-3] if name.endswith(".py") else name for name in REPO_TOP}:
        return None
    base = os.path.join(*parts)
    for candidate in (base + ".py", os.path.join(base, "__main__.py"), os.path.join(base, "__init__.py")):
        if os.path.isfile(os.path.join(PROJECT_ROOT, candidate)):
            return candidate
    return base + ".py"  # reported missing


@dataclasses.dataclass(frozen=True)
class Program:
    """How to run one of our programs: `argv` (without its arguments), and its name in
    messages and in PENDING_FLAGS."""

    name: str
    argv: tuple[str, ...]
    source: str  # the repository file of its code
    absl: bool = False  # run_classifier: flags from --helpfull

    def help_argv(self, subcommand: str | None = None) -> tuple[str, ...]:
        if self.absl:
            return (*self.argv, "--helpfull")
        return (*self.argv, *([subcommand] if subcommand else []), "--help")


def program_of_file(path: str) -> Program:
    if path.endswith(".sh"):
        return Program(path, (os.path.join(PROJECT_ROOT, path),), path)
    return Program(path, (sys.executable, os.path.join(PROJECT_ROOT, path)), path, absl=path == "run_classifier.py")


def program_of_module(module: str) -> Program:
    if module == "run_classifier":
        return program_of_file("run_classifier.py")
    return Program(f"python -m {module}", (sys.executable, "-m", module), module_file(module))


def program_of_console_script(name: str) -> Program | None:
    target = console_scripts().get(name)
    if target is None:
        return None
    module, function = target.split(":")
    if module == "run_classifier":
        return program_of_file("run_classifier.py")
    code = f"import sys; from {module} import {function} as f; sys.argv[0] = {name!r}; sys.exit(f())"
    return Program(name, (sys.executable, "-c", code), module_file(module))


def answers_help(program: Program) -> bool:
    """Whether the program's source handles `--help` (argparse, absl, or a shell `case`),
    read before running it: a program that does not would run for real."""
    return handles_help(program.source)


def handles_help(path: str, depth: int = 0) -> bool:
    with open(os.path.join(PROJECT_ROOT, path), encoding="utf-8") as f:
        source = f.read()
    if path.endswith(".sh"):
        return bool(re.search(r"(?:^|[\s|(])--help\b", source))
    if re.search(r"^\s*(?:import argparse|from absl import)", source, re.MULTILINE):
        return True
    # A launcher (`from bert_estimator.tools.demo import main`): the module it runs.
    launched = re.search(r"^from ([\w.]+) import main$", source, re.MULTILINE)
    return bool(launched and depth == 0 and module_file(launched.group(1))
                and handles_help(module_file(launched.group(1)), depth + 1))


@functools.cache
def run_help(argv: tuple[str, ...]) -> tuple[int, str]:
    env = dict(os.environ, PYTHONPATH=PROJECT_ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(argv, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=HELP_TIMEOUT)
    return result.returncode, result.stdout + result.stderr


def help_text(program: Program, subcommand: str | None = None) -> str:
    """The program's help; an AssertionError when it cannot be read."""
    assert answers_help(program), f"{program.name}: its source ({program.source}) handles no --help"
    status, text = run_help(program.help_argv(subcommand))
    ok = status in (0, 1) if program.absl else status == 0  # absl exits 1 after --helpfull
    assert ok and text.strip(), f"{program.name}: its help exited {status}: {text[-500:]}"
    return text


def absl_flags(text: str) -> set[str]:
    """The flags of absl's `--helpfull` output; `--[no]x` gives --x and --nox."""
    known = set()
    for negatable, name in re.findall(r"^\s+--(\[no\])?([\w.-]+):", text, re.MULTILINE):
        known.add(f"--{name}")
        if negatable:
            known.add(f"--no{name}")
    return known


def argparse_flags(text: str) -> set[str]:
    """The options of argparse's `--help` output: the lines indented by two spaces that
    start with a dash (`  -h, --help`, `  --export_dir EXPORT_DIR`)."""
    known = set()
    for line in text.splitlines():
        if re.match(r"^ {2}-", line):
            options = re.split(r"\s{2,}", line.strip())[0]
            known.update(re.findall(r"(?:^|(?<=[\s,]))(-{1,2}[A-Za-z?][\w-]*)", options))
    return known


def subcommands(text: str) -> set[str]:
    """The choices of the first positional argument (`  {glue,model}`)."""
    match = re.search(r"positional arguments:\n {2}\{([\w,-]+)\}", text)
    return set(match.group(1).split(",")) if match else set()


def forwarding(text: str) -> tuple[str, bool] | None:
    """(program, only after `--`) that a program's help says its extra flags go to."""
    match = re.search(r"[Ff]lags (?:given )?(?:after (--|\w+) |to this script )?go to (?:every )?([\w/]+\.py)", text)
    if not match:
        return None
    return match.group(2), match.group(1) == "--"


def known_flags(program: Program, subcommand: str | None = None) -> set[str]:
    text = help_text(program, subcommand)
    return absl_flags(text) | ABSL_HELP_FLAGS if program.absl else argparse_flags(text)


# ------------------------------------------------------------------ checking commands
def flag_name(token: str) -> str | None:
    """`--name` of a flag argument (`--name=value`, `[--name]`), None for other arguments."""
    token = token.strip("[]")
    if not token.startswith("-") or token in ("-", "--") or re.match(r"^-\d", token):
        return None
    return token.split("=", 1)[0]


def check_flags(program: Program, args: list[str], problems: list[str]) -> None:
    """Every flag in `args` is one the program knows (its own, or the forwarded ones)."""
    if program.name.endswith(".sh"):
        text = help_text(program)
        own, forwarded_to = {"-h", "--help"} if args[:1] in (["-h"], ["--help"]) else set(), forwarding(text)
        check = {flag for flag in map(flag_name, args) if flag} - own
        if check and forwarded_to is None:
            problems.append(f"{program.name} takes no flags (its help says of none that they go anywhere): "
                            f"{', '.join(sorted(check))}")
        elif check:
            target = program_of_file(forwarded_to[0])
            unknown_flags(target, sorted(check), None, problems)
        return
    subcommand = args[0] if args and not args[0].startswith("-") else None
    if subcommand and subcommand not in subcommands(help_text(program)):
        subcommand = None
    text = help_text(program, subcommand)
    own_args, forwarded = args, []
    forwarded_to = forwarding(text)
    if forwarded_to and forwarded_to[1] and "--" in args:
        split = args.index("--")
        own_args, forwarded = args[:split], args[split + 1:]
    unknown_flags(program, [flag for flag in map(flag_name, own_args) if flag], subcommand, problems)
    if forwarded:
        unknown_flags(program_of_file(forwarded_to[0]), [flag for flag in map(flag_name, forwarded) if flag],
                      None, problems)


def unknown_flags(program: Program, flags: list[str], subcommand: str | None, problems: list[str]) -> None:
    known = known_flags(program, subcommand)
    for flag in flags:
        if flag in known:
            continue
        if (program.name, flag) in PENDING_FLAGS:
            continue
        where = f"{program.name} {subcommand}" if subcommand else program.name
        problems.append(f"{where} has no flag {flag}")


def check_path(path: str, problems: list[str], what: str = "file") -> None:
    """`path` (repository-relative, `::test_name` allowed) exists, unless a known exception.
    A bare file name (`bench_training.py`) is the top-level file, else the one file of
    that name in the repository."""
    path, _, test_name = path.partition("::")
    normalized = os.path.normpath(path)
    if os.sep not in normalized:
        if normalized in EXTERNAL_FILES:
            return
        if not os.path.exists(os.path.join(PROJECT_ROOT, normalized)):
            matches = files_named(normalized) + [p for p in HISTORICAL_FILES if os.path.basename(p) == normalized]
            if len(matches) > 1:
                problems.append(f"{path} is ambiguous: {', '.join(matches)}; give its directory")
                return
            normalized = matches[0] if matches else normalized
    if normalized in PENDING_FILES:
        return
    if normalized in HISTORICAL_FILES:
        if not in_git_history(normalized, HISTORICAL_FILES[normalized]):
            problems.append(f"{normalized} is not in commit {HISTORICAL_FILES[normalized]} (HISTORICAL_FILES)")
        return
    full = os.path.join(PROJECT_ROOT, normalized)
    if not os.path.exists(full):
        problems.append(f"no {what} {path} in the repository")
    elif test_name:
        with open(full, encoding="utf-8") as f:
            if not re.search(rf"^\s*def {re.escape(test_name.split('[')[0])}\(", f.read(), re.MULTILINE):
                problems.append(f"{path} defines no {test_name}")


@functools.cache
def files_named(name: str) -> list[str]:
    """The repository files called `name` (not in hidden or generated directories)."""
    found = []
    for top in sorted(REPO_TOP):
        if os.path.isdir(os.path.join(PROJECT_ROOT, top)):
            for dirpath, dirnames, filenames in os.walk(os.path.join(PROJECT_ROOT, top)):
                dirnames[:] = [d for d in dirnames if not d.startswith((".", "__pycache__"))]
                if name in filenames:
                    found.append(os.path.relpath(os.path.join(dirpath, name), PROJECT_ROOT))
    return found


@functools.cache
def in_git_history(path: str, commit: str) -> bool:
    """Whether `commit` has `path`; True when the checkout has no git history to ask."""
    if not os.path.isdir(os.path.join(PROJECT_ROOT, ".git")):
        return True
    result = subprocess.run(["git", "cat-file", "-e", f"{commit}:{path}"], cwd=PROJECT_ROOT, capture_output=True)
    return result.returncode == 0


def check_segment(tokens: list[str], problems: list[str]) -> None:
    """One simple command: its program exists and knows its flags."""
    known_problems = len(problems)
    env = []
    while tokens and ASSIGNMENT.match(tokens[0]):
        env.append(tokens.pop(0).split("=", 1)[0])
    if not tokens:
        return
    word, args = tokens[0], tokens[1:]
    if PYTHON.match(word):
        while args and args[0].startswith("-") and args[0] not in ("-m", "-c"):
            args = args[1:]  # interpreter options
        if not args or args[0] == "-c":
            return
        if args[0] == "-m":
            module, args = args[1], args[2:]
            if module == "pytest":
                check_pytest(args, problems)
                return
            path = module_file(module)
            if path is None:
                return  # not ours: pip, venv, ...
            check_path(path, problems, "module file")
            program = program_of_module(module)
        else:
            path, args = args[0], args[1:]
            if "$" in path or os.path.isabs(path):
                return
            check_path(path, problems)
            program = program_of_file(os.path.normpath(path))
    elif word.endswith((".py", ".sh")):
        if "$" in word or os.path.isabs(word):
            return
        check_path(word, problems)
        program = program_of_file(os.path.normpath(word))
    elif word == "make":
        check_make(args, problems)
        return
    elif word == "pytest" or word.endswith("/pytest"):
        check_pytest(args, problems)
        return
    elif re.match(r"^(?:.*/)?pip3?$", word):
        for option, value in zip(args, args[1:]):
            if option in ("-c", "-r", "--constraint", "--requirement") and "$" not in value:
                check_path(value, problems)
        return
    elif word.startswith("bert-"):
        program = program_of_console_script(word)
        if program is None:
            if word not in PENDING_CONSOLE_SCRIPTS:
                problems.append(f"setup.py installs no command {word}")
            return
    else:
        return  # not ours: docker, curl, saved_model_cli, ...
    if len(problems) > known_problems or not os.path.isfile(os.path.join(PROJECT_ROOT, program.source)):
        return  # the program is missing (or only in git history): its flags cannot be read
    if not any(flag_name(arg) or arg == "--" for arg in args) and not (env and program.name.endswith(".sh")):
        return  # no flag to check: the program's help is not needed
    if not answers_help(program):
        problems.append(f"{program.name} has no --help (no argparse or absl in {program.source}): its flags "
                        "cannot be checked, nor run without it running for real")
        return
    if env and program.name.endswith(".sh"):
        text = help_text(program)
        for name in env:
            if not re.search(rf"\b{name}\b", text):
                problems.append(f"{program.name}'s help names no environment variable {name}")
    check_flags(program, args, problems)


def check_make(args: list[str], problems: list[str]) -> None:
    """`make` arguments: targets and `VARIABLE=value` of the Makefile."""
    targets, variables = makefile()
    for arg in args:
        if ASSIGNMENT.match(arg):
            if arg.split("=", 1)[0] not in variables:
                problems.append(f"the Makefile has no variable {arg.split('=', 1)[0]}")
        elif not arg.startswith("-") and arg not in targets:
            problems.append(f"the Makefile has no target {arg}")


def check_pytest(args: list[str], problems: list[str]) -> None:
    """`pytest` arguments that are paths exist (with their `::test`)."""
    for arg in args:
        if not arg.startswith("-") and ("/" in arg or arg.endswith(".py")):
            check_path(arg, problems)


def check_command(text: str) -> list[str]:
    """The problems of one shell line, [] when it runs as written."""
    problems: list[str] = []
    for tokens in segments(text):
        check_segment(list(tokens), problems)
    return problems


# ------------------------------------------------------------------ paths and links
def github_anchors(doc: str) -> set[str]:
    """The anchors GitHub gives the headings of `doc`."""
    with open(os.path.join(PROJECT_ROOT, doc), encoding="utf-8") as f:
        text = re.sub(r"^(`{3,}|~{3,}).*?^\1", "", f.read(), flags=re.MULTILINE | re.DOTALL)
    anchors, seen = set(), {}
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE):
        slug = "".join(c for c in heading.lower().replace("`", "")
                       if c in " -_" or unicodedata.category(c)[0] in "LN").replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def check_link(doc: str, target: str) -> list[str]:
    """The problems of a link of `doc`: a relative target must exist, its anchor too."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
        return []
    path, _, anchor = target.partition("#")
    resolved = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
    problems: list[str] = []
    check_path(resolved, problems, "link target")
    if anchor and not problems and resolved.endswith(".md") and resolved not in PENDING_FILES:
        if anchor not in github_anchors(resolved):
            problems.append(f"{resolved} has no heading for the anchor #{anchor}")
    return problems


def repository_path(text: str) -> str | None:
    """`text` when it is a path into the repository: its first part is a top-level
    entry (`bench/x.py`, `docs/`), or it is a top-level program name (`demo.py`)."""
    if not re.match(r"^[\w.-]+(?:/[\w.-]*)*(?:::[\w\[\]-]+)?$", text):
        return None
    first = text.split("/", 1)[0]
    if "/" in text and first in REPO_TOP and os.path.isdir(os.path.join(PROJECT_ROOT, first)):
        return text
    if "/" not in text and re.match(r"^[\w-]+\.(?:py|sh)(?:::.*)?$", text):
        return text
    return None


# ------------------------------------------------------------------ the quotes
def all_quotes() -> tuple[list[Quote], list[Quote], list[Quote]]:
    """(commands, repository paths, links) quoted in all the docs."""
    commands, paths, links = [], [], []
    for doc in DOC_FILES:
        blocks, spans, doc_links = read_doc(doc)
        commands += blocks
        for span in spans:
            if is_command_span(span.text):
                commands.append(span)
            elif repository_path(span.text):
                paths.append(span)
        links += doc_links
    return commands, paths, links


COMMANDS, PATHS, LINKS = all_quotes()


@pytest.fixture(scope="module", autouse=True)
def help_outputs():
    """Reads the help of every program the docs run, two at a time (each starts Python,
    some TensorFlow), so that the tests themselves only look the results up."""
    requests = set()
    for quote in COMMANDS:
        for tokens in segments(quote.text):
            requests.update(help_requests(list(tokens)))
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(run_help, sorted(requests)))


def help_requests(tokens: list[str]) -> set[tuple[str, ...]]:
    """The help commands `check_segment` will run for `tokens` (a guess that only warms
    the cache: a wrong guess costs time, never correctness)."""
    while tokens and ASSIGNMENT.match(tokens[0]):
        tokens.pop(0)
    if not tokens:
        return set()
    word, args, program, path = tokens[0], tokens[1:], None, None
    if PYTHON.match(word) and len(args) > 1 and args[0] == "-m" and module_file(args[1]):
        program, path, args = program_of_module(args[1]), module_file(args[1]), args[2:]
    elif PYTHON.match(word) and args and args[0].endswith(".py") and "$" not in args[0]:
        path = os.path.normpath(args[0])
        program, args = program_of_file(path), args[1:]
    elif word.endswith((".py", ".sh")) and "$" not in word:
        path = os.path.normpath(word)
        program = program_of_file(path)
    if program is None or not os.path.isfile(os.path.join(PROJECT_ROOT, path)) or not answers_help(program):
        return set()
    if not any(flag_name(arg) or arg == "--" for arg in args):
        return {program.help_argv()} if program.name.endswith(".sh") else set()
    requests = {program.help_argv()}
    if args and not args[0].startswith("-") and not program.name.endswith(".sh"):
        requests.add(program.help_argv(args[0]))
    if not program.absl and any(a.startswith("-") for a in args):
        requests.add(program_of_file("run_classifier.py").help_argv())  # forwarded flags
    return requests


@pytest.mark.parametrize("quote", COMMANDS, ids=lambda q: f"{q.where()} {q.text[:60]}")
def test_command_names_existing_files_and_known_flags(quote):
    problems = check_command(quote.text)
    assert not problems, f"{quote.where()}: {quote.text}\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("quote", PATHS, ids=lambda q: f"{q.where()} {q.text}")
def test_quoted_repository_path_exists(quote):
    problems: list[str] = []
    check_path(quote.text, problems)
    assert not problems, f"{quote.where()}: " + "; ".join(problems)


@pytest.mark.parametrize("quote", LINKS, ids=lambda q: f"{q.where()} {q.text}")
def test_relative_link_resolves(quote):
    problems = check_link(quote.doc, quote.text)
    assert not problems, f"{quote.where()}: " + "; ".join(problems)


def test_the_docs_quote_commands():
    """The extraction finds the commands the README is built around (if it found none,
    every test above would pass vacuously)."""
    readme = [q.text for q in COMMANDS if q.doc == "README.md"]
    assert any(text.startswith("make demo") for text in readme)
    assert any("run_classifier.py" in text and "--task_name=MRPC" in text for text in readme)
    assert len(COMMANDS) > 50 and len(LINKS) > 10


def test_pending_exceptions_are_still_pending():
    """A pending exception whose flag, command or file now exists must be deleted."""
    rc = program_of_file("run_classifier.py")
    for (program, flag), reason in PENDING_FLAGS.items():
        assert program == "run_classifier.py", program
        assert flag not in known_flags(rc), f"{flag} exists now: delete it from PENDING_FLAGS ({reason})"
    for name, reason in PENDING_CONSOLE_SCRIPTS.items():
        assert name not in console_scripts(), f"setup.py installs {name} now: delete it from PENDING_CONSOLE_SCRIPTS " \
                                              f"({reason})"
    for path, reason in PENDING_FILES.items():
        assert not os.path.exists(os.path.join(PROJECT_ROOT, path)), \
            f"{path} exists now: delete it from PENDING_FILES ({reason})"
    for name in EXTERNAL_FILES:
        assert not os.path.exists(os.path.join(PROJECT_ROOT, name)), f"{name} is in the repository now"


# ------------------------------------------------------------------ the checker itself
def test_reading_shell_lines():
    lines = [(1, "python predict.py \\"), (2, "  --export_dir=m   # a comment with an apostrophe's"),
             (3, "curl -d '{\"a\":"), (4, "  1}' http://x  # c"), (5, "echo 'a # b' | make test")]
    assert logical_lines(lines) == [(1, "python predict.py    --export_dir=m   "),
                                    (3, "curl -d '{\"a\":\n  1}' http://x  "), (5, "echo 'a # b' | make test")]
    assert segments("BERT_DIR=$(python fetch.py model x) && make demo 2>&1 > log.txt") == [
        ["BERT_DIR=$"], ["python", "fetch.py", "model", "x"], ["make", "demo"]]
    assert is_command_span("DRY_RUN=1 scripts/run_imdb.sh") and is_command_span("make test-fast")
    assert not is_command_span("--use_amp") and not is_command_span("eval_results.txt")
    assert is_command_span("bert-predict") and not is_command_span("bert-base-uncased")


def test_parsing_help_output():
    argparse_help = ("usage: x [-h] {a,b} ...\n\npositional arguments:\n  {a,b}\n    a   the a\n\noptions:\n"
                     "  -h, --help            show this help message and exit\n  --data_dir DIR  where\n"
                     "  --variants {x,y} [{x,y} ...]\n                        --not_this: in the help text\n")
    assert argparse_flags(argparse_help) == {"-h", "--help", "--data_dir", "--variants"}
    assert subcommands(argparse_help) == {"a", "b"}
    absl_help = "run_classifier.py:\n  --[no]use_amp: Mixed.\n    (default: 'false')\n  --seed: Seed.\n"
    assert absl_flags(absl_help) == {"--use_amp", "--nouse_amp", "--seed"}
    assert forwarding("Flags after -- go to every run_classifier.py run") == ("run_classifier.py", True)
    assert forwarding("Flags given after TASK go to run_classifier.py after") == ("run_classifier.py", False)
    assert forwarding("no such sentence") is None


@pytest.mark.parametrize("command, problem", [
    ("python predict.py --export_dir=m --no_such_flag", "predict.py has no flag --no_such_flag"),
    ("python run_classifier.py --task_name=mrpc --nouse_amp --no_such_flag", "run_classifier.py has no flag --no_such_flag"),
    ("python no_such_program.py", "no file no_such_program.py"),
    ("python -m bert_estimator.no_such_module", "no module file bert_estimator/no_such_module.py"),
    ("make no_such_target", "no target no_such_target"),
    ("make NO_SUCH_VARIABLE=1 test", "no variable NO_SUCH_VARIABLE"),
    ("scripts/no_such_script.sh", "no file scripts/no_such_script.sh"),
    ("scripts/run_glue.sh MRPC --no_such_flag", "run_classifier.py has no flag --no_such_flag"),
    ("NO_SUCH_SETTING=1 scripts/run_imdb.sh", "names no environment variable NO_SUCH_SETTING"),
    ("python scripts/reproduce_glue.py --tasks MRPC -- --no_such_flag", "run_classifier.py has no flag --no_such_flag"),
    ("bert-no-such-command --x", "setup.py installs no command bert-no-such-command"),
    ("pip install -c no_such_constraints.txt .", "no file no_such_constraints.txt"),
    (".venv/bin/python -m pytest tests/test_no_such_file.py", "no file tests/test_no_such_file.py"),
    ("python tests/real_data.py --x", "tests/real_data.py has no --help"),
    ("pytest tests/test_docs.py::test_no_such_test", "tests/test_docs.py defines no test_no_such_test"),
])
def test_the_checker_reports(command, problem):
    assert any(problem in p for p in check_command(command)), check_command(command)


def test_the_checker_accepts():
    for command in ("scripts/run_glue.sh MRPC --do_lower_case=false --seed=1", "DRY_RUN=1 scripts/run_imdb.sh",
                    "python scripts/reproduce_glue.py --tasks MRPC --glue_dir g -- --evaluate_every_epoch",
                    "python run_classifier.py --nodo_train --helpfull", "make PYTHON=python3.11 test",
                    "docker run --gpus all image", "echo x | python predict.py --export_dir=m --batch_size=1"):
        assert check_command(command) == [], command
    assert check_link("docs/TASKS.md", "../README.md#two-commands") == []
    assert check_link("docs/TASKS.md", "../README.md#no-such-heading") != []
    assert repository_path("bench/accuracy.sh") and repository_path("tests/test_docs.py::test_x")
    assert repository_path("runs/demo/") is None and repository_path("vocab.txt") is None
    problems: list[str] = []
    for path in ("bench_training.py", "bench/profile_variants.py", "profile_variants.py", "predict.py"):
        check_path(path, problems)
    assert problems == []
    check_path("__init__.py", problems)
    assert problems and "ambiguous" in problems[0]
