"""``rfcx-frames demo``: the path a data scientist takes, end to end, in under two minutes.

streams of a project -> a month of detections -> recording effort, detection rates per
species per stream per local day and a daily plot with no-audio days as gaps -> a detection
history for occupancy models -> the same query again from the cache -> annotations -> clips
aligned to them and their spectrograms -> a training set on disk.

Without ``api_url`` it starts the embedded emulator's demo world; with one (and a token or a
login) it runs the same steps against that platform.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import plot
from .audio import clips, training_set, write_training_set
from .audio.sources import ClientSource
from .audio.store import AudioStore
from .client import Client
from .ecology import detection_history, detection_rates, to_darwin_core
from .emulator import running
from .files import open_atomic, write_bytes

CLIP_COUNT = 6
SURVEY_MINUTES = 30
CLIP_SECONDS = 5.0
CLIP_RATE = 24000


@dataclass
class DemoResult:
    """What the demo produced: timings and the files it wrote."""

    out_dir: Path
    detections: int = 0
    annotations: int = 0
    cold_seconds: float = 0.0
    warm_seconds: float = 0.0
    files: dict[str, Path] = field(default_factory=dict)


def _say(title: str, echo: Callable[[str], None]) -> None:
    echo("")
    echo(f"== {title}")


def _table(frame: pd.DataFrame, echo: Callable[[str], None], rows: int = 12) -> None:
    with pd.option_context("display.width", 120, "display.max_columns", 12,
                           "display.max_colwidth", 28):
        echo(frame.head(rows).to_string(index=False))
    if len(frame) > rows:
        echo(f"... {len(frame) - rows} more rows")


def spectrogram(audio: np.ndarray, sample_rate: int, nfft: int = 512,
                hop: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Power spectrogram in dB: ``(db[freq, time], freqs_hz, times_s)``.

    Examples
    --------
    >>> db, f, t = spectrogram(np.zeros(4000, dtype=np.float32), 8000)
    >>> db.shape[0] == f.size
    True
    """
    if audio.size < nfft:
        audio = np.pad(audio, (0, nfft - audio.size))
    frames = 1 + (audio.size - nfft) // hop
    index = np.arange(nfft)[None, :] + hop * np.arange(frames)[:, None]
    window = np.hanning(nfft).astype(np.float32)
    power = np.abs(np.fft.rfft(audio[index] * window, axis=1)) ** 2
    db = 10 * np.log10(power.T + 1e-12)
    return db, np.fft.rfftfreq(nfft, 1 / sample_rate), (np.arange(frames) * hop + nfft / 2) / \
        sample_rate


def plot_spectrograms(audio: np.ndarray, meta: pd.DataFrame, path: Path) -> Path:
    """A PNG grid of clip spectrograms with each annotation's time-frequency box."""
    plt = _pyplot()
    from matplotlib.patches import Rectangle  # matplotlib is the optional [plot] extra

    n = len(meta)
    cols = 3
    rows = max(1, (n + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), dpi=100, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        row = meta.iloc[i]
        rate = int(row["sample_rate"])
        db, freqs, times = spectrogram(audio[i], rate)
        ax.pcolormesh(times, freqs / 1000, db, shading="auto", cmap="magma",
                      vmin=float(np.percentile(db, 5)), vmax=float(db.max()))
        offset = (row["start"] - row["clip_start"]) / pd.Timedelta(seconds=1)
        length = (row["end"] - row["start"]) / pd.Timedelta(seconds=1)
        if pd.notna(row.get("frequency_min")) and pd.notna(row.get("frequency_max")):
            low, high = float(row["frequency_min"]) / 1000, float(row["frequency_max"]) / 1000
            ax.add_patch(Rectangle((offset, low), length, high - low, fill=False,
                                   edgecolor="cyan", linewidth=1.5))
        ax.set_title(f"{row['classification_value']}\n{row['stream_id']} "
                     f"{row['start']:%m-%d %H:%M:%S}", fontsize=8)
        ax.set_xlabel("s", fontsize=8)
        ax.set_ylabel("kHz", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _save_png(fig, path)


#: Written into every demo output folder: only such a folder is ever emptied by a rerun.
MARKER = ".rfcx-frames-demo"


def prepare_out_dir(out: Path) -> Path:
    """An empty output folder: new, or a previous demo's output (recognised by its marker).

    Never deletes a folder the demo did not make.

    Examples
    --------
    >>> import tempfile
    >>> folder = prepare_out_dir(Path(tempfile.mkdtemp()) / "demo")
    >>> sorted(p.name for p in folder.iterdir())
    ['.rfcx-frames-demo']
    """
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"--out {out} exists and is not a folder")
        if any(out.iterdir()):
            if not (out / MARKER).exists():
                raise ValueError(f"--out {out} is not empty and was not made by the demo; "
                                 "choose a new or empty folder")
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    write_bytes(out / MARKER, b"made by rfcx-frames demo; emptied by the next run\n")
    return out


def run_demo(*, api_url: str | None = None, token: str | None = None,
             out_dir: str | Path = "demo-output", start: str = "2024-03-01",
             end: str = "2024-04-01", min_confidence: float = 0.5, progress: bool = True,
             echo: Callable[[str], None] = print) -> DemoResult:
    """Run every step of the demo and return what it produced.

    Parameters
    ----------
    api_url, token
        A platform to run against; ``None`` starts the embedded emulator's demo world.
    out_dir
        Where plots, tables, clips and the training set go: a new or empty folder, or the
        output of an earlier demo run (which is emptied first). Any other folder is refused.
    start, end
        The month of detections to analyse.
    min_confidence
        Detection confidence threshold.
    progress
        Show progress bars.
    echo
        Where lines of output go.

    Examples
    --------
    >>> result = run_demo(out_dir="/tmp/rfcx-demo", echo=lambda s: None)  # doctest: +SKIP
    >>> result.files["activity_plot"].exists()  # doctest: +SKIP
    True
    """
    out = prepare_out_dir(Path(out_dir))
    result = DemoResult(out_dir=out)
    with ExitStack() as stack:
        client = _client(stack, api_url, token, out, progress, echo)
        _run_steps(client, result, start, end, min_confidence, echo)
    return result


def _client(stack: ExitStack, api_url: str | None, token: str | None, out: Path,
            progress: bool, echo: Callable[[str], None]) -> Client:
    cache_dir = out / "cache"
    if api_url is not None:
        client = Client(api_url=api_url, token=token, cache_dir=cache_dir, progress=progress)
        if token is None:
            client.authenticate()
        echo(f"Platform: {client.api_url}")
        return stack.enter_context(client)
    emu = stack.enter_context(running(world="demo"))
    echo(f"Embedded emulator (demo world) at {emu.api_url}; data in {emu.data_dir}")
    return stack.enter_context(emu.client(cache_dir=cache_dir, progress=progress))


def _pick_project(client: Client) -> tuple[str, str, pd.DataFrame]:
    """The readable project with the most streams, and its streams (one listing request)."""
    streams = client.streams_df(progress=False)
    streams = streams[streams["project_id"].notna()]
    if streams.empty:
        raise RuntimeError("no project with streams is readable with these credentials")
    project_id = str(streams["project_id"].astype(str).value_counts().index[0])
    mine = streams[streams["project_id"].astype(str) == project_id].reset_index(drop=True)
    return project_id, str(mine["project_name"].iloc[0]), mine


@dataclass
class _DemoRun:
    """What the steps share: the client, the window, and the frames earlier steps made."""

    client: Client
    result: DemoResult
    start: str
    end: str
    min_confidence: float
    echo: Callable[[str], None]
    streams: pd.DataFrame = field(default_factory=pd.DataFrame)
    detections: pd.DataFrame = field(default_factory=pd.DataFrame)
    effort: pd.DataFrame = field(default_factory=pd.DataFrame)
    annotations: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def ids(self) -> list[str]:
        return list(self.streams["id"].astype(str))

    def detections_query(self) -> pd.DataFrame:
        """The month of detections; steps 2 and 5 ask exactly the same."""
        return self.client.detections_df(self.start, self.end, streams=self.ids,
                                         min_confidence=self.min_confidence, local_time=True)


def _run_steps(client: Client, result: DemoResult, start: str, end: str,
               min_confidence: float, echo: Callable[[str], None]) -> None:
    run = _DemoRun(client, result, start, end, min_confidence, echo)
    _show_streams(run)
    if not _fetch_detections(run):
        return
    _show_effort_and_rates(run)
    _history(run.detections, run.effort, run.streams, client.classifications_df(), result, echo)
    _query_again(run)
    if _fetch_annotations(run):
        source = ClientSource(client, AudioStore(result.out_dir / "audio"))
        chosen = _show_clips(run, source)
        _write_training_set(run, source, str(chosen["stream_id"].iloc[0]))
    _written(result, client, echo)


def _show_streams(run: _DemoRun) -> None:
    project_id, project_name, run.streams = _pick_project(run.client)
    _say(f"1. Streams of project '{project_name}' ({project_id})", run.echo)
    _table(run.streams[["id", "name", "timezone", "max_sample_rate", "start", "end"]], run.echo)


def _fetch_detections(run: _DemoRun) -> bool:
    """Step 2, timed cold; ``False`` when the window holds no detection (nothing to show)."""
    _say(f"2. Detections {run.start} .. {run.end}, confidence >= {run.min_confidence}", run.echo)
    t0 = time.perf_counter()
    run.detections = run.detections_query()
    run.result.cold_seconds = time.perf_counter() - t0
    run.result.detections = len(run.detections)
    if run.detections.empty:
        run.echo(f"no detections between {run.start} and {run.end}; choose another window "
                 "with --start/--end")
        return False
    memory_mb = run.detections.memory_usage(deep=True).sum() / 1e6
    run.echo(f"{len(run.detections):,} detections in {run.result.cold_seconds:.1f} s "
             f"({memory_mb:.1f} MB in memory)")
    _table(run.detections[["start", "stream_id", "classification_value", "confidence",
                           "review_status"]], run.echo, rows=5)
    return True


def _show_effort_and_rates(run: _DemoRun) -> None:
    _say("3. Recording effort and detection rates (each site's local days)", run.echo)
    run.effort = run.client.effort_df(run.start, run.end, streams=run.ids, freq="1D",
                                      local_time=True)
    run.echo("Audio recorded per site (a day without audio is not a day without detections):")
    _table(_audio_per_site(run.effort, run.streams), run.echo)
    detections, effort, out = run.detections, run.effort, run.result.out_dir
    rates = detection_rates(detections, effort, by=["stream_id", "local_date",
                                                    "classification_value"])
    run.result.files["rates_csv"] = out / "daily_rates.csv"
    write_bytes(run.result.files["rates_csv"], rates.to_csv(index=False).encode("utf-8"))
    top = (detection_rates(detections, effort, by=["stream_id", "classification_value"])
           .sort_values("rate_per_hour", ascending=False).head(10))
    run.echo("Detections per recorded hour, highest first (rate = detections / recorded_hours):")
    _table(top[["stream_id", "classification_value", "detections", "recorded_hours",
                "rate_per_hour"]].round({"recorded_hours": 1, "rate_per_hour": 2}), run.echo)
    hours = detections["start_local"].dt.hour.value_counts().sort_index()
    run.echo("Busiest local hours: " + ", ".join(
        f"{h:02d}h" for h in hours.sort_values(ascending=False).index[:4]))
    run.result.files["activity_plot"] = _plot_daily(detections, effort,
                                                    out / "daily_activity.png")


def _audio_per_site(effort: pd.DataFrame, streams: pd.DataFrame) -> pd.DataFrame:
    """Recorded hours, days with audio and days per stream, with the stream's name."""
    names = dict(zip(streams["id"].astype(str), streams["name"].astype(str), strict=True))
    per_site = effort.groupby("stream_id", observed=True).agg(
        recorded_hours=("recorded_seconds", lambda s: round(s.sum() / 3600, 1)),
        days_with_audio=("recorded_seconds", lambda s: int((s > 0).sum())),
        days=("recorded_seconds", "size")).reset_index()
    per_site.insert(1, "name", per_site["stream_id"].astype(str).map(names))
    return per_site


def _query_again(run: _DemoRun) -> None:
    _say("5. The same query again (answered from the local cache)", run.echo)
    t0 = time.perf_counter()
    again = run.detections_query()
    cold = run.result.cold_seconds
    warm = run.result.warm_seconds = time.perf_counter() - t0
    same = again.reset_index(drop=True).equals(run.detections.reset_index(drop=True))
    run.echo(f"first run {cold:.2f} s, second run {warm:.3f} s "
             f"({cold / max(warm, 1e-6):.0f}x faster); identical frame: {same}")


def _fetch_annotations(run: _DemoRun) -> bool:
    """Step 6; ``False`` when there are none (clips and a training set need some)."""
    _say("6. Annotations", run.echo)
    run.annotations = run.client.annotations_df(run.start, run.end, streams=run.ids)
    run.result.annotations = len(run.annotations)
    if run.annotations.empty:
        run.echo("no annotations in this window: clips and a training set need some; "
                 "stopping here")
        return False
    per_class = (run.annotations.groupby("classification_value", observed=True).size()
                 .sort_values(ascending=False).rename("annotations").reset_index())
    run.echo(f"{len(run.annotations):,} annotations of {per_class.shape[0]} classes")
    _table(per_class, run.echo, rows=8)
    return True


def _show_clips(run: _DemoRun, source: ClientSource) -> pd.DataFrame:
    """Step 7: clips of a few annotations and their spectrograms; returns those annotations."""
    _say(f"7. Clips aligned to {CLIP_COUNT} annotations, with spectrograms", run.echo)
    chosen = _spread(run.annotations, CLIP_COUNT)
    audio, meta = clips(source, chosen, duration=CLIP_SECONDS, sample_rate=CLIP_RATE,
                        progress=False)
    run.echo(f"clips array {audio.shape} {audio.dtype}; metadata columns: "
             f"{', '.join(map(str, meta.columns[:8]))} ...")
    run.result.files["spectrograms"] = plot_spectrograms(
        audio, meta, run.result.out_dir / "clip_spectrograms.png")
    return chosen


def _write_training_set(run: _DemoRun, source: ClientSource, stream: str) -> None:
    """Step 8: a training set from two days of one stream's annotations."""
    _say("8. A training set from one stream's annotations", run.echo)
    subset = run.annotations[run.annotations["stream_id"].astype(str) == stream]
    subset = subset[subset["start"] < subset["start"].min() + pd.Timedelta(days=2)]
    ts = training_set(source, subset, clip_duration=CLIP_SECONDS, negatives=0.5)
    run.echo(f"{len(ts)} clips, {len(ts.classes)} classes, "
             f"{int((ts.multi_hot().sum(axis=1) == 0).sum())} background negatives")
    run.result.files["training_set"] = write_training_set(
        ts, run.result.out_dir / "training_set", progress=False)


def _history(detections: pd.DataFrame, effort: pd.DataFrame, streams: pd.DataFrame,
             classifications: pd.DataFrame, result: DemoResult,
             echo: Callable[[str], None]) -> None:
    species = str(detections["classification_value"].astype(str).value_counts().index[0])
    _say(f"4. Detection history of {species} (occupancy data: site x local day)", echo)
    # The demo sites record on duty cycles (minutes per hour), so half a day of audio
    # never happens: a local day counts as surveyed with at least 30 minutes of audio.
    history = detection_history(detections, effort, species=[species],
                                min_coverage=SURVEY_MINUTES / (24 * 60), sites=streams)
    matrix = history.y[species]
    shown = matrix.iloc[:, :8].copy()
    shown.columns = [c.strftime("%m-%d") for c in shown.columns]
    echo(f"1 detected; 0 surveyed (>= {SURVEY_MINUTES} min of audio that day) and not "
         "detected; NaN not surveyed:")
    echo(shown.to_string())
    surveyed = int(matrix.notna().to_numpy().sum())
    echo(f"{matrix.shape[0]} sites x {matrix.shape[1]} days; {surveyed} surveyed site-days, "
         f"detected on {int(np.nansum(matrix.to_numpy()))}")
    files = history.to_csv(result.out_dir / "occupancy")
    result.files["occupancy"] = files[0].parent
    archive = to_darwin_core(history, effort, detections, streams,
                             result.out_dir / "darwin_core_archive.zip",
                             dataset_title=f"Acoustic detections of {species} (rfcx_frames demo)",
                             classifications=classifications)
    result.files["darwin_core"] = archive
    echo(f"Written for R (unmarked, spOccupancy): {len(files)} CSV files; for GBIF: a Darwin "
         f"Core Archive of {surveyed} events")


def _plot_daily(detections: pd.DataFrame, effort: pd.DataFrame, path: Path) -> Path:
    _pyplot()
    return _save_png(plot.daily(detections, effort).figure, path)


def _pyplot() -> Any:
    """``matplotlib.pyplot`` drawing off screen: the demo only writes files."""
    # Imported here: matplotlib is the optional [plot] extra, and slow to import.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_png(fig: Any, path: Path) -> Path:
    """Write ``fig`` as a PNG atomically, and free it."""
    try:
        with open_atomic(path) as handle:
            fig.savefig(handle, format="png")
    finally:
        _pyplot().close(fig)
    return path


def _written(result: DemoResult, client: Client, echo: Callable[[str], None]) -> None:
    _say("Written", echo)
    for name, path in result.files.items():
        echo(f"  {name:15s} {path}")
    echo(f"  {'cache':15s} {client.cache_dir}")


def _spread(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` rows spread over distinct classes where possible, in time order."""
    picked = frame.sort_values("start").groupby("classification_value", observed=True).head(1)
    if len(picked) < n:
        picked = pd.concat([picked, frame.drop(picked.index).head(n - len(picked))])
    return picked.head(n).sort_values("start").reset_index(drop=True)


def main(args: Any) -> int:
    """``rfcx-frames demo`` (arguments parsed by :mod:`rfcx_frames.cli.local`)."""
    result = run_demo(api_url=args.api_url, token=args.token, out_dir=args.out,
                      start=args.start, end=args.end, min_confidence=args.min_confidence,
                      progress=not args.no_progress)
    return 0 if result.detections > 0 else 1
