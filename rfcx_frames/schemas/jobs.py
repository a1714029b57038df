"""Classifier tables: classifier outputs, classifier jobs, job summaries, best detections.

The platform nests these answers (a classifier's ``outputs``, a job's ``classifier``, a
best detection's ranking); the client flattens each item into the plain keys declared
here (``source`` is that key), so one row is one thing a ``groupby`` counts.

Examples
--------
>>> CLASSIFIER.names[:3]
('classifier_id', 'name', 'version')
>>> JOB_STATUSES[30]
'done'
"""

from __future__ import annotations

from .entity import Column, Entity

#: The platform's job status codes and the names a frame shows.
JOB_STATUSES: dict[int, str] = {0: "waiting", 20: "running", 30: "done", 40: "error",
                                50: "cancelled", 60: "awaiting_cancellation"}


def _flat(name: str, kind: str, doc: str = "") -> Column:
    return Column(name, kind, (name,), doc=doc)  # type: ignore[arg-type]


CLASSIFIER = Entity(
    name="classifiers",
    endpoint="/classifiers",
    columns=(
        _flat("classifier_id", "int64", "The classifier's id."),
        _flat("name", "string"),
        _flat("version", "Int32"),
        _flat("external_id", "string"),
        _flat("is_public", "boolean"),
        _flat("last_executed_at", "timestamp", "When it last ran (the platform keeps no "
                                                "creation time for classifiers)."),
        _flat("classification_value", "category", "The class one output names."),
        _flat("classification_title", "category"),
        _flat("output_class_name", "string", "The model's own name for the class."),
        _flat("threshold", "float64", "Scores below it are not kept as detections."),
    ),
    key="classifier_id",
    order_by=("name", "version", "classifier_id", "classification_value"),
)

CLASSIFIER_JOB = Entity(
    name="classifier_jobs",
    endpoint="/classifier-jobs",
    columns=(
        _flat("id", "int64", "The job's id."),
        _flat("classifier_id", "Int32"),
        _flat("classifier_name", "string"),
        _flat("classifier_version", "Int32"),
        _flat("project_id", "string"),
        _flat("status", "category", "waiting, running, done, error, cancelled or "
                                    "awaiting_cancellation."),
        _flat("minutes_completed", "Int64"),
        _flat("minutes_total", "Int64", "Minutes of audio the job covers (set when it starts)."),
        _flat("query_start", "timestamp", "First day of the query (UTC midnight)."),
        _flat("query_end", "timestamp", "Last day of the query (UTC midnight)."),
        _flat("query_hours", "string", "Hours of the day, e.g. ``5-7,18``."),
        _flat("stream_ids", "string", "The job's streams, comma-separated."),
        _flat("created_by_id", "Int64"),
        _flat("created_at", "timestamp"),
        _flat("updated_at", "timestamp"),
        _flat("started_at", "timestamp"),
        _flat("completed_at", "timestamp"),
    ),
    key="id",
    order_by=("created_at", "id"),
)

JOB_SUMMARY = Entity(
    name="classifier_job_summary",
    endpoint="/classifier-jobs/{id}/summary",
    columns=(
        _flat("classification_value", "category"),
        _flat("classification_title", "category"),
        _flat("total", "int64", "Detections of the class."),
        _flat("unreviewed", "int64"),
        _flat("confirmed", "int64"),
        _flat("rejected", "int64"),
        _flat("uncertain", "int64"),
    ),
    key="classification_value",
    order_by=("classification_value",),
)

BEST_DETECTION = Entity(
    name="best_detections",
    endpoint="/classifier-jobs/{id}/best-detections",
    columns=(
        Column("id", "int64", ("id",), doc="Detection id."),
        _flat("stream_id", "category"),
        _flat("classifier_id", "Int32"),
        _flat("classification_id", "Int32"),
        _flat("classifier_job_id", "Int32"),
        _flat("start", "timestamp"),
        _flat("end", "timestamp"),
        _flat("confidence", "float32"),
        _flat("review_status", "review_status"),
        _flat("classification_value", "category"),
        _flat("classification_title", "category"),
        _flat("rank", "Int32", "1 for the most confident of its stream (day, class)."),
    ),
    key="id",
    order_by=("stream_id", "rank", "id"),
)
