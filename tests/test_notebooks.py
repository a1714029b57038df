"""The notebooks under ``notebooks/`` run top to bottom on the embedded emulator.

Each notebook is executed by a real Jupyter kernel (``nbclient``, kernel ``python3``) in a
temporary working folder; a cell that raises fails the test. The checks then read what the
cells printed, so a notebook that runs but tells the reader something wrong fails too.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = ["01_quickstart.ipynb", "02_training_set.ipynb", "03_field_workflow.ipynb"]
PLATFORM_LINE = re.compile(r'^PLATFORM = None  # set to "https://api\.rfcx\.org"')
CELL_TIMEOUT_S = 120

# tqdm.auto warns once per kernel when ipywidgets is missing (it is not a test dependency);
# the warning names a missing optional package, not a fault of the notebook.
_TQDM_NO_WIDGETS = re.compile(
    r"^\S*tqdm[/\\]auto\.py:\d+: TqdmWarning: IProgress not found\..*\n"
    r"\s+from \.autonotebook import tqdm as notebook_tqdm\n?", re.MULTILINE)


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK_DIR / name, as_version=4)


def _execute(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    """Run a notebook in ``tmp_path``; its temporary folders go to ``tmp_path/tmp``."""
    work = tmp_path / "cwd"
    scratch = tmp_path / "tmp"
    work.mkdir()
    scratch.mkdir()
    # The kernel inherits the environment: its tempfile folders (the emulator's data,
    # exports) land under tmp_path, where the test can see whether they were removed.
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setenv("MPLBACKEND", "Agg")  # no window may open even if a cell forgets inline
    nb = _read(name)
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(work)}}).execute()
    leftovers = sorted(p.name for p in scratch.iterdir())
    assert not leftovers, f"{name} left temporary folders behind: {leftovers}"
    return nb


def _stdout(nb: nbformat.NotebookNode) -> str:
    return "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.outputs
                   if out.output_type == "stream" and out.name == "stdout")


def _stderr(nb: nbformat.NotebookNode) -> str:
    text = "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.outputs
                   if out.output_type == "stream" and out.name == "stderr")
    return _TQDM_NO_WIDGETS.sub("", text)


def _images(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in out.get("data", {}) for cell in nb.cells
               if cell.cell_type == "code" for out in cell.outputs)


def _number(text: str, pattern: str) -> int:
    match = re.search(pattern, text)
    assert match is not None, f"no line matching {pattern!r} in:\n{text}"
    return int(match.group(1))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_stored_clean(name: str) -> None:
    nb = _read(name)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert PLATFORM_LINE.match(code[0].source), "the first code cell must start with PLATFORM"
    assert "Emulator(world=\"demo\").start()" in code[0].source
    assert "rf.set_default_client(" in code[0].source
    assert "emulator.stop()" in code[-1].source
    for cell in code:
        assert cell.execution_count is None and cell.outputs == [], "store without outputs"


@pytest.mark.slow
def test_quickstart_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _execute("01_quickstart.ipynb", tmp_path, monkeypatch)
    out = _stdout(nb)
    assert _stderr(nb) == ""
    assert _number(out, r"projects: (\d+) rows") == 2
    assert _number(out, r"streams: (\d+) rows") == 6
    kept = _number(out, r"detections: (\d+) rows in the local week")
    assert 1000 < kept < _number(out, r"\(of (\d+) fetched\)")
    assert _number(out, r"fetched\), (\d+) species") >= 6
    # Six species, each with its busiest local hour in 0..23.
    hours = re.search(r"busiest local hour: (\{.*\})", out)
    assert hours is not None
    assert re.findall(r"': (\d+)", hours.group(1)) and all(
        0 <= int(h) <= 23 for h in re.findall(r"': (\d+)", hours.group(1)))
    assert len(re.findall(r"'[a-z_]+': \d+", hours.group(1))) == 6
    assert _number(out, r"days: (\d+)") == 7  # one local week, whatever the timezones
    assert "identical: True" in out
    assert _images(nb) == 2


@pytest.mark.slow
def test_training_set_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _execute("02_training_set.ipynb", tmp_path, monkeypatch)
    out = _stdout(nb)
    assert _stderr(nb) == ""
    assert _number(out, r"annotations: (\d+) rows") > 0
    chosen = _number(out, r"stream \w+: (\d+) annotations")
    assert chosen > 0
    assert _number(out, r"clips: (\d+) x") == min(6, chosen)
    assert _number(out, r"clips: \d+ x (\d+) samples") == 3 * _number(out, r"at (\d+) Hz")
    windows = _number(out, r"training set: (\d+) windows")
    kinds = re.search(r"kinds: (\{.*\})", out)
    assert kinds is not None
    counts = {k: int(v) for k, v in re.findall(r"'(\w+)': (\d+)", kinds.group(1))}
    assert sum(counts.values()) == windows
    assert counts["positive"] > 0 and counts["background"] > 0
    assert _number(out, r"written: (\d+) clips") == windows
    assert _number(out, r"kaggle: (\d+) true positives") == chosen
    assert _number(out, r"species, (\d+) recordings") > 0
    assert _images(nb) == 1


@pytest.mark.slow
def test_field_workflow_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _execute("03_field_workflow.ipynb", tmp_path, monkeypatch)
    out = _stdout(nb)
    assert _stderr(nb) == ""
    assert _number(out, r"recordings: (\d+) files") == 2
    assert _number(out, r"segments before: (\d+)") == 0
    assert re.search(r"ingested: 2 of 2 files", out)
    assert re.search(r"second upload of \S+: DUPLICATE", out)
    # The cached empty answer stays until refreshed; then 150 s -> 3 segments, 20 s -> 1.
    assert _number(out, r"segments from the cache: (\d+)") == 0
    assert _number(out, r"after refresh: (\d+)") == 4
    match = re.search(r"round trip: (\d+) of (\d+) samples, largest difference (\S+)", out)
    assert match is not None
    assert match.group(1) == match.group(2) == str(150 * 24_000)
    assert float(match.group(3)) <= 1 / 32768 + 1e-9  # lossless up to one 16-bit step
    assert _number(out, r"classifier id: (\d+)") > 0
    # The 150 s file has a call every 2 s, the 20 s one too: about one per 2 s of audio.
    assert 60 <= _number(out, r"detections by classifier \d+: (\d+)") <= 100
    assert _images(nb) == 2
