"""Counts the platform computes: ``/clustered-detections`` buckets per time and classification.

Examples
--------
>>> DETECTION_COUNT.names
('time_bucket', 'classification_value', 'aggregated_value', 'first_start', 'last_start')
"""

from __future__ import annotations

from .entity import Column, Entity

DETECTION_COUNT = Entity(
    name="detection_counts",
    endpoint="/clustered-detections",
    columns=(
        Column("time_bucket", "timestamp", ("time_bucket",),
               doc="Start of the bucket (UTC; buckets are aligned on 2000-01-03T00:00Z)."),
        Column("classification_value", "category", ("classification", "value")),
        Column("aggregated_value", "float64", ("aggregated_value",),
               doc="The aggregate of the bucket (a count, or avg/sum/min/max of a field)."),
        Column("first_start", "timestamp", ("first_start",), doc="Earliest start in the bucket."),
        Column("last_start", "timestamp", ("last_start",), doc="Latest start in the bucket."),
    ),
    key="time_bucket",
    order_by=("time_bucket", "classification_value"),
)
