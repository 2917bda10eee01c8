"""The documentation follows the code: every CLI command and every environment variable
the service reads is documented, the README stays short, and relative links resolve.

Pure: no database, broker or app factory; the CLI tree comes from app/cli/ registered
on a bare Flask app, the variables from the source files' syntax trees."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import pytest
from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
README_MAX_CHARS = 12_500

# Where each kind of name must be documented.
CLI_DOC = DOCS / "operations.md"
CONFIG_DOC = DOCS / "configuration.md"

# Source files whose environment reads count as configuration: the app, what `make run`
# starts it with, and the gunicorn and Celery entry points.
CONFIG_SOURCES = [
    *sorted((ROOT / "app").rglob("*.py")),
    *sorted((ROOT / "devstack").rglob("*.py")),
    ROOT / "gunicorn.conf.py",
    ROOT / "worker.py",
    ROOT / "app.py",
]
VARIABLE = re.compile(r"[A-Z][A-Z0-9_]*")
# Names through which the sources read the environment: `env = environ.get` (app/config.py),
# `env = dict(os.environ)` (devstack), `os.environ`, `os.getenv`.
ENVIRON_NAMES = {"env", "environ"}


# --- the CLI ------------------------------------------------------------------------------

def cli_commands() -> list[tuple[str, click.Command]]:
    """Every command and subcommand app/cli/ registers, as ("flask db stats", command)."""
    from app import cli

    app = Flask("docs-check")  # a bare app: app.cli holds only what app/cli/ adds
    cli.init_app(app)
    found = []

    def walk(prefix: str, command: click.Command) -> None:
        found.append((prefix, command))
        if isinstance(command, click.Group):
            for name, sub in sorted(command.commands.items()):
                walk(f"{prefix} {name}", sub)

    for name, command in sorted(app.cli.commands.items()):
        walk(f"flask {name}", command)
    return found


def mentions_command(text: str, command: str) -> bool:
    """`command` in `text` as a whole command: "flask train a" is not in "flask train all"."""
    return re.search(re.escape(command) + r"(?![\w-])", text) is not None


def test_cli_discovery_sees_the_command_tree():
    names = {name for name, _ in cli_commands()}
    # Registered by app/cli/__init__.py into groups defined elsewhere: the walk must see them.
    assert {"flask db regenerate-sars", "flask train rl", "flask jobs prune", "flask seed"} <= names
    assert len(names) >= 15


@pytest.mark.parametrize("command", [name for name, _ in cli_commands()])
def test_every_cli_command_is_documented(command):
    assert mentions_command(CLI_DOC.read_text(encoding="utf-8"), command), \
        f"{command} is not documented in {CLI_DOC.relative_to(ROOT)}"


def test_every_cli_option_is_documented():
    text = CLI_DOC.read_text(encoding="utf-8")
    missing = []
    for name, command in cli_commands():
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            for option in (*param.opts, *param.secondary_opts):
                if option.startswith("--") and not re.search(re.escape(option) + r"(?![\w-])", text):
                    missing.append(f"{name} {option}")
    assert not missing, f"options not documented in {CLI_DOC.relative_to(ROOT)}: {missing}"


# --- configuration ------------------------------------------------------------------------

def _is_environ(node: ast.AST) -> bool:
    """`os.environ`, `environ` or `env` (a mapping of the environment, or its .get)."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ" and isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id in ENVIRON_NAMES


def _first_string(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def variables_read(source: str) -> set[str]:
    """Environment variables a module reads with a literal name."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        name = None
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "env":  # env("NAME", default)
                name = _first_string(node)
            elif isinstance(func, ast.Attribute) and func.attr in ("get", "setdefault", "pop") \
                    and _is_environ(func.value):  # os.environ.get("NAME"), env.setdefault("NAME", ...)
                name = _first_string(node)
            elif isinstance(func, ast.Attribute) and func.attr == "getenv":  # os.getenv("NAME")
                name = _first_string(node)
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_environ(node.value):
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                name = node.slice.value  # os.environ["NAME"]
        elif isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops) \
                and any(_is_environ(c) for c in node.comparators):
            if isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
                name = node.left.value  # "NAME" in os.environ
        if name and VARIABLE.fullmatch(name):
            names.add(name)
    return names


def configuration_variables() -> dict[str, set[str]]:
    """Variable name -> the files that read it."""
    found: dict[str, set[str]] = {}
    for path in CONFIG_SOURCES:
        for name in variables_read(path.read_text(encoding="utf-8")):
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_configuration_discovery_finds_the_settings():
    found = configuration_variables()
    # Read through env(...) in app/config.py, os.environ.get in gunicorn.conf.py and app/,
    # and the environment copy in devstack/: each way of reading must be seen.
    assert {"MONGODB_URI", "TRAINING_MIN_USERS", "SWAGGER_UI"} <= set(found)
    assert {"BIND", "GUNICORN_THREADS", "PROMETHEUS_MULTIPROC_DIR"} <= set(found)
    assert {"MARKETREC_DEMO", "MARKETREC_VAR", "MONGODB_PORT"} <= set(found)
    assert "app/config.py" in found["MONGODB_URI"]
    assert len(found) >= 50


def test_variables_read_parses_every_form():
    source = ("import os\n"
              "env = os.environ.get\n"
              "a = env('A_ONE', '1')\n"
              "b = os.environ.get('B_TWO')\n"
              "c = os.environ['C_THREE']\n"
              "d = os.getenv('D_FOUR')\n"
              "e = 'E_FIVE' in os.environ\n"
              "def f(env):\n"
              "    env.setdefault('F_SIX', '1')\n"
              "os.environ['NOT_READ'] = 'x'\n")
    assert variables_read(source) == {"A_ONE", "B_TWO", "C_THREE", "D_FOUR", "E_FIVE", "F_SIX"}


def test_every_configuration_variable_is_documented():
    text = CONFIG_DOC.read_text(encoding="utf-8")
    missing = sorted(f"{name} (read in {', '.join(sorted(files))})"
                     for name, files in configuration_variables().items() if f"`{name}`" not in text)
    assert not missing, f"not documented in {CONFIG_DOC.relative_to(ROOT)}: {missing}"


# --- README size and links ----------------------------------------------------------------

def test_readme_is_short():
    length = len(README.read_text(encoding="utf-8"))
    assert length <= README_MAX_CHARS, f"README.md has {length} characters; move detail under docs/"


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def prose(text: str) -> str:
    """Markdown without code blocks and code spans, where links are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, -1, -2 on repeats."""
    seen: dict[str, int] = {}
    result = set()
    for line in FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def relative_links(path: Path) -> list[str]:
    return [target for target in LINK.findall(prose(path.read_text(encoding="utf-8")))
            if not re.match(r"[a-z][a-z0-9+.-]*:", target)]  # http:, https:, mailto: ...


def test_docs_exist():
    assert (DOCS / "operations.md").is_file() and (DOCS / "configuration.md").is_file()
    assert relative_links(README), "README.md links to nothing under docs/"


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve(path):
    broken = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading with this anchor")
    assert not broken, f"broken links in {path.relative_to(ROOT)}: {broken}"
