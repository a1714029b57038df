"""The client's platform calls, one module per kind: each function takes a :class:`~.context.Context`.

:class:`~rfcx_frames.Client` methods are one-line delegations to these functions, which
hold the documentation; nothing here imports the client, so there is no import cycle.

- :mod:`.context` the shared state (URLs, session, cache settings, clock)
- :mod:`.pages` reading pages of a listing into Arrow
- :mod:`.pieces` time-ranged rows fetched in concurrent pieces (probe, then split)
- :mod:`.ranged` ``segments_df``, ``detections_df``, ``annotations_df``
- :mod:`.cached` the Parquet cache around time-ranged and whole-result queries
- :mod:`.listings` ``projects_df``, ``streams_df``, ``classifications_df``
- :mod:`.idcheck` unknown ids are errors, never empty frames
- :mod:`.timezones` stream timezones for local times
- :mod:`.effort` ``effort_df``
- :mod:`.seed` the official client's list-of-dicts methods
- :mod:`.ingest` uploads: audio files and classifiers
"""
