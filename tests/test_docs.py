"""The documentation site: it builds without warnings, and what it states matches the code.

- ``mkdocs build --strict`` (broken links, anchors and cross-references, griffe warnings on
  docstrings, pages missing from the nav all fail it);
- the column tables of ``docs/dataframes.md`` equal the declarations in
  :mod:`rfcx_frames.schemas`;
- the reference of module-level functions, the migration table and the CLI page name
  exactly what the package provides;
- every code block of README.md and docs/ runs as written (see :func:`test_examples_run`).

How the examples run (the documented setup, also in docs/emulator.md): every page runs in
a fresh empty working directory, with ``RFCX_API_URL``, ``RFCX_INGEST_URL``,
``RFCX_AUTH_URL`` and ``RFCX_TOKEN`` pointing at a running emulator of the demo world, so
``rf.*`` functions and ``rfcx-frames`` commands reach it as they would reach the platform.
The ``python`` blocks of one file run in order in one namespace; in ``bash`` blocks each
``rfcx-frames`` command runs (other shell commands, ``make``, ``pip`` ..., are not run
here). A block that cannot run here (the real platform, a browser, a server in the
background) follows a visible ``<!-- not-run: reason -->`` line; there may be only a
handful of those.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import griffe
import pytest

import rfcx_frames as rf
from rfcx_frames import cli
from rfcx_frames.cli import build_parser
from rfcx_frames.emulator import Emulator, running
from rfcx_frames.schemas import ENTITIES, Column

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: Methods of the official ``rfcx`` client (``rfcx.Client``, version 0.3.1).
SEED_METHODS = (
    "authenticate", "projects", "streams", "stream", "stream_segments", "detections",
    "annotations", "classifications", "download_segment", "download_segments",
    "ingest_file", "check_ingest", "upload_classifier",
)

#: How docs/dataframes.md writes the dtype of each schema kind.
DTYPE_LABELS = {
    "string": "string[pyarrow]", "category": "category", "review_status": "category",
    "timestamp": "datetime64[ms, UTC]", "int64": "int64", "Int64": "Int64", "Int32": "Int32",
    "float32": "float32", "float64": "float64", "boolean": "boolean", "object": "object",
}

#: Every page with code: README.md and the documentation, paths relative to the root.
PAGES = tuple(sorted(["README.md", *(p.relative_to(ROOT).as_posix()
                                     for p in DOCS.rglob("*.md"))]))

#: A block right after this HTML comment is shown but not executed; the comment says why
#: (``<!-- not-run: needs an RFCx account -->``).
NOT_RUN_RE = re.compile(r"^<!-- not-run: (?P<reason>\S.*?) -->$")
#: At most this many blocks may be exempt, over all pages.
MAX_NOT_RUN = 6

FENCE_RE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<code>.*?)^```", re.MULTILINE | re.DOTALL)
RUNNABLE_LANGS = ("python", "bash")


def _mkdocs() -> Path:
    exe = Path(sys.executable).parent / ("mkdocs.exe" if os.name == "nt" else "mkdocs")
    assert exe.is_file(), f"mkdocs is not installed next to {sys.executable}"
    return exe


def _section(text: str, heading: str) -> str:
    """The text under a markdown heading, up to the next heading of any level."""
    match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#|\Z)", text,
                      re.MULTILINE | re.DOTALL)
    assert match is not None, f"no heading {heading!r}"
    return match.group(1)


def _table_rows(section: str) -> list[list[str]]:
    """Cells of the first markdown table of a section, header and rule excluded."""
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    assert len(lines) >= 3, "no table"
    return [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines[2:]]


def _code(cell: str) -> str:
    return cell.strip().strip("`")


def code_blocks(page: str) -> list[tuple[str, str, str | None]]:
    """``(language, code, not-run reason or None)`` of every fenced block of a page."""
    text = (ROOT / page).read_text(encoding="utf-8")
    blocks = []
    for match in FENCE_RE.finditer(text):
        before = text[: match.start()].rstrip().splitlines()
        marker = NOT_RUN_RE.match(before[-1].strip()) if before else None
        blocks.append((match["lang"], match["code"], marker["reason"] if marker else None))
    return blocks


def shell_commands(code: str) -> list[str]:
    """The ``rfcx-frames`` commands of a shell block (continuations joined, comments cut)."""
    joined = code.replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "rfcx-frames":
            commands.append(line)
    return commands


def runnable_pages() -> list[str]:
    """Pages with at least one block to execute."""
    return [page for page in PAGES
            if any(lang == "python" or (lang == "bash" and shell_commands(code))
                   for lang, code, reason in code_blocks(page) if reason is None)]


# ------------------------------------------------------------------------------ the build


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = subprocess.run(
        [str(_mkdocs()), "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output, output
    client_page = (site / "reference" / "client" / "index.html").read_text(encoding="utf-8")
    for method in ("detections_df", "segments_df", "load_window", "check_ingest"):
        assert f'id="rfcx_frames.Client.{method}"' in client_page, method


def test_every_page_is_in_the_nav() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = config[config.index("\nnav:"):config.index("\nmarkdown_extensions:")]
    in_nav = set(re.findall(r": (\S+\.md)$", nav, re.MULTILINE))
    on_disk = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert on_disk - in_nav == set()
    assert in_nav - on_disk == set()


# ------------------------------------------------------------------- statements vs code


@pytest.mark.parametrize("entity", sorted(ENTITIES))
def test_dataframe_columns_match_schemas(entity: str) -> None:
    text = (DOCS / "dataframes.md").read_text(encoding="utf-8")
    rows = _table_rows(_section(text, entity))
    documented = [(_code(r[0]), _code(r[1])) for r in rows]
    columns: tuple[Column, ...] = ENTITIES[entity].columns
    declared = [(c.name, DTYPE_LABELS[c.kind]) for c in columns]
    assert documented == declared
    sources = [_code(r[2]) for r in rows]
    assert sources == [".".join(c.source) if c.source else "(filled in by the client)"
                       for c in columns]


def test_dataframe_orders_match_schemas() -> None:
    text = (DOCS / "dataframes.md").read_text(encoding="utf-8")
    for name, entity in ENTITIES.items():
        stated = re.search(r"Order: (.*?)\.\s", _section(text, name), re.DOTALL)
        assert stated is not None, name
        order = [_code(c) for c in stated.group(1).replace("\n", " ").split(",")]
        assert tuple(order) == entity.order_by, name


def test_functions_reference_lists_every_module_function() -> None:
    text = (DOCS / "reference" / "functions.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `rf\.([a-z_]+)` \| \[`Client\.([a-z_]+)`\]", text,
                            re.MULTILINE))
    assert all(a == b for a, b in listed)
    functions = {n for n in rf.__all__ if n[0].islower() and hasattr(rf.Client, n)}
    assert {a for a, _ in listed} == functions
    # The rest need no client: each is on the ecology page or named on this one.
    ecology = (DOCS / "reference" / "ecology.md").read_text(encoding="utf-8")
    pure = {n for n in rf.__all__ if n[0].islower() and not hasattr(rf.Client, n)} - {
        "get_default_client", "set_default_client", "plot"}
    for name in pure:
        assert f"- {name}\n" in ecology or f"`rf.{name}`" in text, name


def test_migration_has_one_row_per_seed_method() -> None:
    text = (DOCS / "migration.md").read_text(encoding="utf-8")
    rows = _table_rows(_section(text, "Method by method"))
    names = [re.match(r"`(\w+)\(", r[0]).group(1) for r in rows]  # type: ignore[union-attr]
    assert names == list(SEED_METHODS)
    for name in SEED_METHODS:
        assert callable(getattr(rf.Client, name))


def test_cli_page_documents_every_command() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "subcommand")
    commands = set(sub.choices)  # type: ignore[arg-type]
    documented = set(re.findall(r"^### `rfcx-frames ([a-z-]+)", text, re.MULTILINE))
    assert documented == commands


def test_griffe_extension_gives_grouped_parameters_their_own_types() -> None:
    spec = importlib.util.spec_from_file_location(
        "griffe_signature_params", DOCS / "griffe_signature_params.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    code = ('def f(retries: int = 6, backoff_factor: float = 0.2):\n'
            '    """F.\n\n    Parameters\n    ----------\n    retries, backoff_factor\n'
            '        Both.\n    """\n')
    func = griffe.visit("m", filepath=Path("m.py"), code=code, docstring_parser="numpy")["f"]
    module.use_signature(func, func.parameters)
    params = {p.name: (str(p.annotation), p.value) for p in func.docstring.parsed[1].value}
    assert params == {"retries": ("int", "6"), "backoff_factor": ("float", "0.2")}


# ------------------------------------------------------------------------ examples run


def test_not_run_markers_are_few_and_say_why() -> None:
    marked = [(page, lang) for page in PAGES for lang, _, reason in code_blocks(page)
              if reason is not None]
    assert len(marked) <= MAX_NOT_RUN, marked
    for page in PAGES:
        text = (ROOT / page).read_text(encoding="utf-8")
        for line in text.splitlines():
            if line.startswith("<!--") and ("not-run" in line or "not run" in line):
                assert NOT_RUN_RE.match(line.strip()), f"{page}: malformed marker {line!r}"
        for lang, _, reason in code_blocks(page):
            assert reason is None or lang in RUNNABLE_LANGS, f"{page}: marker on a {lang} block"


@pytest.fixture(scope="module")
def docs_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The emulator the examples reach through RFCX_API_URL and RFCX_TOKEN (they may write)."""
    with running(world="demo", data_dir=tmp_path_factory.mktemp("docs-world")) as emu:
        yield emu


def _run_python(page: str, number: int, code: str, namespace: dict[str, Any]) -> None:
    try:
        exec(compile(code, f"{page}[block {number}]", "exec"), namespace)
    except Exception as exc:
        raise AssertionError(f"{page}, python block {number} failed:\n{code}") from exc


def _run_shell(page: str, number: int, code: str, capsys: pytest.CaptureFixture[str]) -> None:
    for command in shell_commands(code):
        capsys.readouterr()
        status = cli.main(shlex.split(command, comments=True)[1:])
        _, err = capsys.readouterr()
        assert status == 0, f"{page}, bash block {number}: {command!r} exited {status}:\n{err}"


@pytest.mark.slow
@pytest.mark.parametrize("page", runnable_pages())
def test_examples_run(page: str, docs_platform: Emulator, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RFCX_FRAMES_PROGRESS", "0")
    for name, value in (("RFCX_API_URL", docs_platform.api_url),
                        ("RFCX_INGEST_URL", docs_platform.ingest_url),
                        ("RFCX_AUTH_URL", docs_platform.auth_url),
                        ("RFCX_TOKEN", docs_platform.token)):
        monkeypatch.setenv(name, value)
    for name in ("AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BROWSER", "true")  # a login "opens" its URL with /bin/true
    rf.set_default_client(None)
    namespace: dict[str, Any] = {"__name__": f"docs.{page}"}
    ran = 0
    try:
        for number, (lang, code, reason) in enumerate(code_blocks(page), 1):
            if reason is not None:
                continue
            if lang == "python":
                _run_python(page, number, code, namespace)
                ran += 1
            elif lang == "bash" and shell_commands(code):
                _run_shell(page, number, code, capsys)
                ran += 1
    finally:
        emu = namespace.get("emu")
        if emu is not None and hasattr(emu, "stop"):
            emu.stop()
        rf.set_default_client(None)
    assert ran > 0
