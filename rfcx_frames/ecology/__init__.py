"""The ecologist's tables: recording effort, detection rates, detection histories and their
Darwin Core Archive export.

Pure functions over the frames the client returns; :meth:`rfcx_frames.Client.effort_df`
fetches the segments effort is computed from.
"""

from rfcx_frames.ecology.darwin_core import to_darwin_core
from rfcx_frames.ecology.effort import effort_from_segments
from rfcx_frames.ecology.history import DetectionHistory, detection_history
from rfcx_frames.ecology.rates import detection_rates
from rfcx_frames.ecology.sites import with_local_time, with_sites, with_sun

__all__ = ["DetectionHistory", "detection_history", "detection_rates", "effort_from_segments",
           "to_darwin_core", "with_local_time", "with_sites", "with_sun"]
