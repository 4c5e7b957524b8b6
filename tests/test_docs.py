"""The docs a newcomer reads stay true: the README fits on a screen; every relative link, anchor,
repository path and Python name the docs give exists; the README's configuration table names every
variable the code reads and its commands table every command; no issue numbers in code, SQL or docs.
After modules move, this file names each path that went stale: fix the docs, not the test.

The variable scan reads the Python of pipelines/, flows/, simulator/ and bench/ (every string literal
that is exactly a `PIXEE_*` name: what `os.environ.get`, `env.get`, `_number(env, ...)` and the
tuples and dicts of names those read from are written with) and the `$PIXEE_*` references of
prefect.yaml and bin/. Left out on purpose: `PIXEE_TEST_*`, the test driver's hooks
(tests/etl_driver.py), which are no user configuration."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
from pathlib import Path

from pipelines.settings import REPO_ROOT

README = REPO_ROOT / "README.md"
README_LIMIT = 8192  # bytes: what a newcomer reads before deciding
DOCS = [
    README,
    REPO_ROOT / "CONTRIBUTING.md",
    *sorted((REPO_ROOT / "docs").glob("*.md")),
    REPO_ROOT / "simulator" / "README.md",
]
# A backticked text is a repository path when it names one of these folders first.
TOP_FOLDERS = (
    "pipelines/",
    "flows/",
    "sql/",
    "simulator/",
    "tests/",
    "bench/",
    "docs/",
    "profiles/",
    "bin/",
    ".ci/",
)
SCANNED = ("pipelines", "flows", "simulator", "bench")
TEST_ONLY = "PIXEE_TEST_"
VARIABLE = re.compile(r"PIXEE_[A-Z][A-Z0-9_]*[A-Z0-9]")


def _prose(text: str) -> str:
    """The text outside fenced code blocks: a diagram or a shell session names paths loosely."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _ignored(path: str) -> bool:
    """Whether git ignores the path: an output location (`sql/target/`, `bench/out/`), not a file."""
    done = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=REPO_ROOT, check=False)
    return done.returncode == 0


def test_the_readme_fits_in_8_kb() -> None:
    size = len(README.read_bytes())
    assert size < README_LIMIT, f"README.md is {size} bytes, over {README_LIMIT}: move detail to docs/"


def test_every_relative_link_in_the_docs_resolves() -> None:
    broken = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", _prose(doc.read_text())):
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a URL, or an anchor in the same page
            path = target.split("#", 1)[0]
            if not (doc.parent / path).exists():
                broken.append(f"{doc.relative_to(REPO_ROOT)}: link ({target})")
    assert not broken, "links to nothing: " + "; ".join(broken)


def _slugs(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as '-'."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", _prose(page.read_text()), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_every_anchor_a_link_names_is_a_heading() -> None:
    broken = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", _prose(doc.read_text())):
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or "#" not in target:
                continue
            path, anchor = target.split("#", 1)
            page = (doc.parent / path) if path else doc
            if page.suffix == ".md" and page.exists() and anchor not in _slugs(page):
                broken.append(f"{doc.relative_to(REPO_ROOT)}: link ({target})")
    assert not broken, "anchors no heading has: " + "; ".join(broken)


def repository_paths(text: str) -> set[str]:
    """The repository paths a page names in backticks: `pipelines/load/sync/`, `tests/test_docs.py`; globs
    and placeholders (`tests/test_flows*.py`, `profiles/<name>.toml`) name no one file and are skipped."""
    paths = set()
    for quoted in re.findall(r"`([^`\n]+)`", _prose(text)):
        candidate = quoted.split()[0] if quoted.split() else ""
        candidate = candidate.split("::", 1)[0].rstrip(".,:;")
        if "/" not in candidate or not candidate.startswith(TOP_FOLDERS):
            continue
        if re.search(r"[*<>{}$]|\.\.\.", candidate):
            continue
        paths.add(candidate)
    # In code blocks (diagrams, shell sessions) a path counts when it names a file of the repository
    # by its suffix: `bin/pixee-etl run` is a command there, `pipelines/lock.py` a module.
    for block in re.findall(r"^```.*?^```", text, flags=re.S | re.M):
        folders = "|".join(re.escape(folder) for folder in TOP_FOLDERS)
        paths.update(re.findall(rf"(?<![\w./-])(?:{folders})[\w./-]*\.(?:py|sql|yml|yaml|md|toml)\b", block))
    return paths


def test_every_repository_path_the_docs_name_exists() -> None:
    missing = []
    for doc in DOCS:
        for path in sorted(repository_paths(doc.read_text())):
            if not (REPO_ROOT / path).exists() and not _ignored(path):
                missing.append(f"{doc.relative_to(REPO_ROOT)}: `{path}`")
    assert not missing, "paths that do not exist: " + "; ".join(missing)


def _resolves(dotted: str) -> bool:
    """Whether `pipelines.load.sync.sync` names something: the longest module prefix that imports, then
    attributes of it."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


def test_every_python_name_the_docs_give_exists() -> None:
    """`pipelines.load.sync.sync`, `pipelines.checks.Warehouse`, `python -m pipelines.marts_docs`: a name
    a reader would import or run. HTML comments (the bench's section markers) are not names."""
    missing = []
    for doc in DOCS:
        text = re.sub(r"<!--.*?-->", "", doc.read_text(), flags=re.S)
        for dotted in sorted(
            set(re.findall(r"\b(?:pipelines|flows|simulator|bench)(?:\.[A-Za-z_]\w*)+", text))
        ):
            if not _resolves(dotted):
                missing.append(f"{doc.relative_to(REPO_ROOT)}: {dotted}")
    assert not missing, "names that do not import: " + "; ".join(missing)


def variables_the_code_reads() -> dict[str, str]:
    """Every PIXEE_* name the code reads, with a file that names it."""
    found: dict[str, str] = {}
    for folder in SCANNED:
        for source in sorted((REPO_ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(source.read_text(), str(source))):
                named = node.value if isinstance(node, ast.Constant) else None
                if isinstance(named, str) and VARIABLE.fullmatch(named):
                    found.setdefault(named, str(source.relative_to(REPO_ROOT)))
    shell = [REPO_ROOT / "prefect.yaml", *sorted((REPO_ROOT / "bin").iterdir())]
    for source in shell:
        for name in re.findall(r"\$\{?\s*(" + VARIABLE.pattern + ")", source.read_text()):
            found.setdefault(name, str(source.relative_to(REPO_ROOT)))
    return {name: where for name, where in found.items() if not name.startswith(TEST_ONLY)}


def configuration_table() -> str:
    text = README.read_text()
    assert "## Configuration" in text, "README.md has no '## Configuration' section"
    return text.split("## Configuration", 1)[1].split("\n## ", 1)[0]


def test_the_scan_finds_the_variables_read_every_way() -> None:
    """Through env.get (settings), a number parser, a constant (webhook secrets), a tuple of names
    (the CA bundle), a dict of names (Snowflake secrets) and prefect.yaml's pull step."""
    found = variables_the_code_reads()
    expected = (
        "PIXEE_TOKEN",
        "PIXEE_BURST",
        "PIXEE_WEBHOOK_SECRET",
        "PIXEE_CA_BUNDLE",
        "PIXEE_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE",
        "PIXEE_ETL_HOME",
    )
    for name in expected:
        assert name in found, f"the scan missed {name}"
    assert not any(name.startswith(TEST_ONLY) for name in found)


def test_the_configuration_table_names_every_variable_the_code_reads() -> None:
    table = configuration_table()
    listed = set(re.findall(r"`(" + VARIABLE.pattern + r")`", table))
    read = variables_the_code_reads()
    missing = sorted(f"{name} (read in {where})" for name, where in read.items() if name not in listed)
    assert not missing, "README.md's configuration table lacks: " + ", ".join(missing)


def test_the_configuration_table_names_the_other_variables_the_code_reads() -> None:
    """Names read through os.environ / os.getenv that are not ours: the CA file, Prefect's server,
    the lock's cache directory, dlt's log level (set by pixee-etl unless already set)."""
    read: dict[str, str] = {}
    for folder in SCANNED:
        for source in sorted((REPO_ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(source.read_text(), str(source))):
                name = _environ_read(node)
                if name and not VARIABLE.fullmatch(name):
                    read.setdefault(name, str(source.relative_to(REPO_ROOT)))
    table = configuration_table()
    missing = sorted(f"{name} (read in {where})" for name, where in read.items() if f"`{name}`" not in table)
    assert not missing, "README.md's configuration table lacks: " + ", ".join(missing)


def _environ_read(node: ast.AST) -> str | None:
    """The name in `os.environ.get("X")`, `os.getenv("X")` or `os.environ["X"]` read. A setdefault
    is a default pixee-etl gives dlt, not a read (the one a user may want, dlt's log level, is
    in the table anyway)."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        key = node.slice
        if ast.unparse(node.value) == "os.environ" and isinstance(key, ast.Constant):
            return str(key.value)
        return None
    if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
        return None
    func, name = node.func, node.args[0].value
    if not isinstance(name, str) or not isinstance(func, ast.Attribute):
        return None
    target = ast.unparse(func.value)
    if (target, func.attr) in (("os.environ", "get"), ("os", "getenv")):
        return name
    return None


def test_the_readme_lists_every_command_of_the_cli() -> None:
    from pipelines.cli import COMMANDS

    commands = README.read_text().split("## Commands", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in COMMANDS if f"| `{name}` |" not in commands]
    assert not missing, f"README.md's commands table lacks: {', '.join(missing)}"


# An issue or pull-request number: `#12`, `(#12)`, `issue 12`, `issue-12`; not a colour (`"#333"`, `#999;`).
TICKET = re.compile(r"\bissues?[ -]#?\d+|(?:^|[\s(\[])#\d+\b(?![;\"'])", re.I)
TICKET_FREE = ("pipelines", "flows", "sql", "simulator", "bench", "docs")


def test_no_issue_numbers_in_code_sql_or_docs() -> None:
    """A number means nothing to a reader without the tracker: the text says what it stood for."""
    pages = [REPO_ROOT / "README.md", REPO_ROOT / "CONTRIBUTING.md"]
    for folder in TICKET_FREE:
        pages += [
            p for p in sorted((REPO_ROOT / folder).rglob("*")) if p.suffix in (".py", ".sql", ".yml", ".md")
        ]
    found = []
    for page in pages:
        for number, line in enumerate(page.read_text().splitlines(), 1):
            match = TICKET.search(line)
            if match:
                found.append(f"{page.relative_to(REPO_ROOT)}:{number}: {match.group(0)}")
    assert not found, "issue numbers: " + "; ".join(found)
