"""Audio: a local segment store, sample-exact windows, clips and training sets.

Everything here reads audio through a :class:`~rfcx_frames.audio.sources.SegmentSource`:
:class:`LocalSource` (an :class:`AudioStore`), :class:`TableSource` (files listed in a
DataFrame) or the client's downloading source.

Examples
--------
>>> import tempfile
>>> from rfcx_frames.audio import AudioStore, LocalSource
>>> source = LocalSource(AudioStore(tempfile.mkdtemp()))
"""

from __future__ import annotations

from rfcx_frames.audio.atomic_dir import TrainingSetError
from rfcx_frames.audio.bands import band_energy, band_pass_filter
from rfcx_frames.audio.clip_audio import ClipAudio
from rfcx_frames.audio.clips import clip_spans, clips, iter_clips, shift
from rfcx_frames.audio.features import log_mel
from rfcx_frames.audio.hf import to_hf_dataset
from rfcx_frames.audio.indices import acoustic_indices, indices_fn
from rfcx_frames.audio.kaggle import to_kaggle_rfcx
from rfcx_frames.audio.opensoundscape import to_opensoundscape
from rfcx_frames.audio.raven import read_raven, to_raven
from rfcx_frames.audio.segment_check import AudioVerificationError
from rfcx_frames.audio.sources import LocalSource, SegmentSource, TableSource
from rfcx_frames.audio.store import AudioStore, default_audio_root
from rfcx_frames.audio.training_files import read_training_set, write_training_set
from rfcx_frames.audio.training_set import TrainingSet, split_report, training_set
from rfcx_frames.audio.window_apply import apply_windows
from rfcx_frames.audio.window_plan import GapError
from rfcx_frames.audio.windows import Coverage, WindowRequest, load_window, load_windows

__all__ = [
    "AudioStore",
    "AudioVerificationError",
    "ClipAudio",
    "Coverage",
    "GapError",
    "LocalSource",
    "SegmentSource",
    "TableSource",
    "TrainingSet",
    "TrainingSetError",
    "WindowRequest",
    "acoustic_indices",
    "apply_windows",
    "band_energy",
    "band_pass_filter",
    "clip_spans",
    "clips",
    "default_audio_root",
    "indices_fn",
    "iter_clips",
    "load_window",
    "load_windows",
    "log_mel",
    "read_raven",
    "read_training_set",
    "shift",
    "split_report",
    "to_hf_dataset",
    "to_kaggle_rfcx",
    "to_opensoundscape",
    "to_raven",
    "training_set",
    "write_training_set",
]
