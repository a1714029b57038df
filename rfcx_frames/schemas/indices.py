"""Tables the client computes from audio: acoustic indices per window (``indices_df``).

Not a platform endpoint: the rows are computed from the audio store, and cached per
stream and window start in the time-ranged cache, one entry per set of options (see
:mod:`rfcx_frames.api.indices`).

Examples
--------
>>> INDICES.names[:3], INDICES.order_by
(('stream_id', 'start', 'end'), ('start', 'stream_id', 'end'))
"""

from __future__ import annotations

from .entity import Column, Entity

_INDEX_DOCS = {
    "aci": "Acoustic Complexity Index (summed over frequency bins).",
    "adi": "Acoustic Diversity Index (Shannon, 1 kHz bins).",
    "aei": "Acoustic Evenness Index (Gini, 1 kHz bins).",
    "bi": "Bioacoustic Index (2-8 kHz by default).",
    "ndsi": "Normalized Difference Soundscape Index.",
    "h": "Acoustic entropy H = Ht x Hf.",
}

INDICES = Entity(
    name="indices",
    endpoint="(computed from audio)",
    columns=(
        Column("stream_id", "category", None, doc="The window's stream."),
        Column("start", "timestamp", None, doc="The window's start (UTC)."),
        Column("end", "timestamp", None, doc="The window's end (UTC)."),
        *(Column(name, "float64", None, doc=doc) for name, doc in _INDEX_DOCS.items()),
        Column("coverage", "float64", None, doc="The recorded share of the window."),
    ),
    key="start",
    order_by=("start", "stream_id", "end"),
)
