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
NOTEBOOKS = ["01_quickstart.ipynb", "02_training_set.ipynb", "03_field_workflow.ipynb",
             "04_occupancy_for_r.ipynb", "05_classifier_job_review.ipynb"]
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
    kept = _number(out, r"detections: (\d+) rows in the local fortnight")
    assert 1000 < kept < _number(out, r"\(of (\d+) fetched\)")
    assert _number(out, r"fetched\), (\d+) species") >= 6
    # Effort: every site has a row for each of the 14 local days, and 24 for each day.
    assert _number(out, r"daily effort: (\d+) rows") == 6 * 14
    assert _number(out, r"\((\d+) sites x") == 6
    assert _number(out, r"sites x (\d+) local days") == 14
    assert _number(out, r"hourly effort: (\d+) rows") == 6 * 14 * 24
    # Kakadu's gap in the demo world: four local days without audio, a NaN rate, not 0.
    assert re.search(r"Kakadu Billabong: 4 local days with 0 recorded seconds: "
                     r"10 Mar, 11 Mar, 12 Mar, 13 Mar", out)
    assert "Kakadu Billabong on those days: 0 detections, rate per recorded hour [nan]" in out
    # Rates are counts over recorded hours; every detection of the fortnight has a period.
    assert _number(out, r"detections outside every effort period: (\d+)") == 0
    check = re.search(r"rate check: \S+ at .+?: (\d+) detections / (\S+) recorded hours "
                      r"= (\S+) per hour", out)
    assert check is not None
    count, hours, rate = int(check.group(1)), float(check.group(2)), float(check.group(3))
    assert count > 0 and hours > 0
    assert rate == pytest.approx(count / hours, abs=1e-4)
    # The recorders run at dawn and dusk; the seconds their dusk files overrun into 19:00
    # are too little audio for a rate, so that hour counts as not surveyed.
    heard = re.search(r"local hours with audio: \[([\d, ]+)\]", out)
    assert heard is not None
    hours_heard = [int(h) for h in heard.group(1).split(",")]
    assert 0 < len(hours_heard) < 24 and 12 not in hours_heard and 19 not in hours_heard
    # Six species, each with its busiest local hour among the hours with audio.
    busiest = re.search(r"busiest local hour: (\{.*\})", out)
    assert busiest is not None
    pairs = re.findall(r"'[a-z_]+': (\d+)", busiest.group(1))
    assert len(pairs) == 6 and all(int(h) in hours_heard for h in pairs)
    assert _number(out, r"(?m)^days: (\d+)") == 14
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
    assert sum(counts.values()) == windows and "context" not in counts
    assert counts["positive"] > 0 and counts["background"] > 0
    sources = re.search(r"sources: (\{.*\})", out)
    assert sources is not None and "unreviewed" not in sources.group(1)
    assert _number(out, r"split: (\d+) train") + _number(out, r"and (\d+) test windows") == windows
    assert _number(out, r"overlapping train/test pairs: (\d+)") == 0
    for line in ("baseline accuracy", "most frequent class alone", "leaky"):
        value = re.search(line + r"[^:]*: ([0-9.]+)", out)
        assert value is not None and 0.0 <= float(value.group(1)) <= 1.0, line
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
    # The upload forked the emulator's world, so its identity changed and the empty answer
    # cached before is not its answer any more; 150 s -> 3 segments, 20 s -> 1.
    assert _number(out, r"segments from the cache: (\d+)") == 4
    assert _number(out, r"after refresh: (\d+)") == 4
    match = re.search(r"round trip: (\d+) of (\d+) samples, largest difference (\S+)", out)
    assert match is not None
    assert match.group(1) == match.group(2) == str(150 * 24_000)
    assert float(match.group(3)) <= 1 / 32768 + 1e-9  # lossless up to one 16-bit step
    assert _number(out, r"classifier id: (\d+)") > 0
    # The 150 s file has a call every 2 s, the 20 s one too: about one per 2 s of audio.
    assert 60 <= _number(out, r"detections by classifier \d+: (\d+)") <= 100
    assert _images(nb) == 2


@pytest.mark.slow
def test_occupancy_for_r_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _execute("04_occupancy_for_r.ipynb", tmp_path, monkeypatch)
    out = _stdout(nb)
    assert _stderr(nb) == ""
    assert _number(out, r"effort: (\d+) site-days \(6 sites x 14 local days\)") == 84
    assert _number(out, r"counted in the fortnight: \d+ detections, (\d+) of them verified") > 0
    # Each species' NaN cells are exactly the site-days whose coverage is below the threshold.
    below = _number(out, r"coverage below 0\.05: (\d+) of 84 site-days")
    assert below >= 4  # at least Kakadu's four days without audio
    species = re.findall(r"y\[(\w+)\]: (\d+) detected, (\d+) not detected, (\d+) not surveyed", out)
    assert [s[0] for s in species] == ["coereba_flaveola", "cacatua_galerita",
                                       "psittacus_erithacus"]
    for _, detected, absent, missing in species:
        assert int(missing) == below
        assert int(detected) + int(absent) + int(missing) == 84
    # The rule for a detection matters: at confidence 0.5 the cockatoo of Kakadu is
    # "detected" at more sites than once confirmed.
    naive = {(name, rule): int(n) for name, rule, n in
             re.findall(r"sites with (\w+) \[([^\]]+)\]: (\d+) of 6", out)}
    assert len(naive) == 9
    loose = "confidence >= 0.5, any status"
    for (name, _rule), n in naive.items():
        assert n <= naive[(name, loose)]
    assert naive[("cacatua_galerita", "confirmed only")] < naive[("cacatua_galerita", loose)]
    dawn = _number(out, r"dawn chorus: (\d+) of \d+ detections")
    assert 0 < dawn < _number(out, r"dawn chorus: \d+ of (\d+) detections")
    assert "same not-surveyed cells as the whole-day history: True" in out
    # The CSV files were written, not empty, and read back equal to the history.
    written = dict(re.findall(r"written: (\S+) \((\d+) bytes\)", out))
    assert set(written) == {"y_coereba_flaveola.csv", "y_cacatua_galerita.csv",
                            "y_psittacus_erithacus.csv", "obs_recorded_hours.csv",
                            "site_covariates.csv"}
    assert all(int(size) > 0 for size in written.values())
    back = re.search(r"read back y_coereba_flaveola\.csv: 6 sites x 14 occasions, (\d+) NA "
                     r"cells, equal to the history: True", out)
    assert back is not None and int(back.group(1)) == below
    # Duty-cycled recorders: 0.5 of a day leaves nothing surveyed, 0 leaves everything.
    assert _number(out, r"min_coverage=0\.5: (\d+) of 84") == 0
    assert _number(out, r"min_coverage=0\.05: (\d+) of 84") == 84 - below
    assert _number(out, r"min_coverage=0\.0: (\d+) of 84") == 84
    # The Darwin Core Archive: an event per surveyed site-day, an occurrence per event and
    # species, present where the history has a 1.
    assert re.search(r"archive: dwca\.zip with \['eml\.xml', 'event\.txt', 'meta\.xml', "
                     r"'occurrence\.txt'\]", out)
    events = _number(out, r"events: (\d+) surveyed site-days")
    assert events == 84 - below
    assert _number(out, r"occurrences: (\d+) \(") == 3 * events
    assert _number(out, r"occurrences: \d+ \((\d+) present") == sum(
        int(detected) for _, detected, _, _ in species)
    assert _number(out, r"present, (\d+) absent\)") == sum(int(absent) for _, _, absent, _ in species)
    # The R code is shown, not run.
    r_cells = [c.source for c in nb.cells if c.cell_type == "markdown" and "```r" in c.source]
    assert r_cells and "unmarkedFrameOccu" in r_cells[0] and "msPGOcc" in r_cells[0]
    assert _images(nb) == 0


@pytest.mark.slow
def test_classifier_job_review_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _execute("05_classifier_job_review.ipynb", tmp_path, monkeypatch)
    out = _stdout(nb)
    assert _stderr(nb) == ""
    assert "finished: done" in out
    assert _number(out, r"(\d+) detections by job") > 0
    best = _number(out, r"best detections: (\d+)")
    confirmed = _number(out, r"reviewed now: (\d+) confirmed")
    rejected = _number(out, r"confirmed, (\d+) rejected")
    assert confirmed > 0 and rejected > 0 and confirmed + rejected == best
    statuses = re.search(r"review statuses now: (\{.*\})", out)
    assert statuses is not None
    now = {k: int(v) for k, v in re.findall(r"'(\w+)': (\d+)", statuses.group(1))}
    assert (now["confirmed"], now["rejected"]) == (confirmed, rejected)
    kinds = re.search(r"kinds: (\{.*\})", out)
    assert kinds is not None
    counts = {k: int(v) for k, v in re.findall(r"'(\w+)': (\d+)", kinds.group(1))}
    assert counts["positive"] > 0 and counts["validated"] > 0
    sources = re.search(r"sources: (\{.*\})", out)
    assert sources is not None and "unreviewed" not in sources.group(1)
    windows = sum(counts.values())
    assert _number(out, r"split: (\d+) train") + _number(out, r"and (\d+) test windows") == windows
