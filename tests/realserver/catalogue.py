"""The requests of the differential: every read route of the emulator, with good and bad input.

Placeholders in ``{braces}`` are ids of the loaded world, resolved by :func:`world_ids`
from its SQLite database, so the catalogue holds for any seed of the demo world.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from tests.realserver.pair import Case

W1 = (("start", "2024-03-01T00:00:00.000Z"), ("end", "2024-03-02T00:00:00.000Z"))
W7 = (("start", "2024-03-01T00:00:00.000Z"), ("end", "2024-03-08T00:00:00.000Z"))


def world_ids(world_dir: Path) -> dict[str, str]:
    """The world's ids the catalogue names: streams and projects by who may read them."""
    with closing(sqlite3.connect(world_dir / "platform.sqlite3")) as conn:
        def one(query: str) -> str:
            row = conn.execute(query).fetchone()
            assert row is not None, query
            return str(row[0])
        owner = "select project_id from project_roles where user_id = 1 and role_id = 4"
        guest = "select project_id from project_roles where user_id = 2 and role_id = 3"
        ids = {
            "own_project": one(owner),
            "public_project": one("select id from projects where is_public = 1"),
            "private_project": one("select id from projects where is_public = 0 and id not in "
                                   "(select project_id from project_roles where user_id = 1)"),
            "own_stream": one(f"select id from streams where project_id = ({owner}) "
                              "order by id limit 1"),
            "own_stream2": one(f"select id from streams where project_id = ({owner}) "
                               "order by id desc limit 1"),
            "public_stream": one("select id from streams where is_public = 1 order by id limit 1"),
            "private_stream": one("select id from streams where project_id = ("
                                  "select id from projects where is_public = 0 and id not in "
                                  "(select project_id from project_roles where user_id = 1)) "
                                  "limit 1"),
            "guest_project": one(guest),
            "classification": one("select value from classifications c where exists (select 1 "
                                  "from detections d where d.classification_id = c.id) "
                                  "order by value limit 1"),
            "classifier": one("select min(id) from classifiers"),
            "other_classifier": one("select id from classifiers where created_by_id != 1 "
                                    "order by id limit 1"),
            "segment_start": one(f"select start from segments where stream_id = (select id from "
                                 f"streams where project_id = ({owner}) order by id limit 1) "
                                 "order by start limit 1"),
        }
    return ids


def _listing_cases(path: str, prefix: str) -> list[Case]:
    return [
        Case(f"{prefix}", path),
        Case(f"{prefix} limit 2", path, (("limit", "2"),)),
        Case(f"{prefix} limit 2 offset 2", path, (("limit", "2"), ("offset", "2"))),
        Case(f"{prefix} limit 0", path, (("limit", "0"),)),
        Case(f"{prefix} offset past end", path, (("offset", "500"),)),
        Case(f"{prefix} sort name", path, (("sort", "name"),)),
        Case(f"{prefix} sort -name", path, (("sort", "-name"),)),
        Case(f"{prefix} bad sort", path, (("sort", "nonsense"),)),
        Case(f"{prefix} keyword", path, (("keyword", "a"),)),
        Case(f"{prefix} only_public", path, (("only_public", "true"),)),
        Case(f"{prefix} created_by me", path, (("created_by", "me"),)),
        Case(f"{prefix} created_by collaborators", path, (("created_by", "collaborators"),)),
        Case(f"{prefix} limit abc", path, (("limit", "abc"),)),
        Case(f"{prefix} offset -1", path, (("offset", "-1"),)),
        Case(f"{prefix} limit -1", path, (("limit", "-1"),)),
        Case(f"{prefix} as guest", path, role="other"),
        Case(f"{prefix} as outsider", path, role="outsider"),
        Case(f"{prefix} as system", path, (("limit", "3"),), role="system"),
    ]


def _detection_cases() -> list[Case]:
    s = (("streams[]", "{own_stream}"),)
    cases = [
        Case("detections one stream day", "/detections", W1 + s + (("limit", "1000"),)),
        Case("detections min_confidence", "/detections",
             W1 + s + (("min_confidence", "0.9"), ("limit", "1000"))),
        Case("detections limit 5 offset 5", "/detections",
             W1 + s + (("limit", "5"), ("offset", "5"))),
        Case("detections descending", "/detections",
             W1 + s + (("limit", "20"), ("descending", "true"))),
        Case("detections two streams", "/detections",
             W1 + s + (("streams[]", "{own_stream2}"), ("limit", "50"))),
        Case("detections project", "/detections",
             (*W1, ("projects[]", "{own_project}"), ("limit", "50"))),
        Case("detections classification", "/detections",
             W7 + s + (("classifications[]", "{classification}"), ("limit", "100"))),
        Case("detections classifier", "/detections",
             W1 + s + (("classifiers[]", "{classifier}"), ("limit", "100"))),
        Case("detections confirmed", "/detections",
             W7 + s + (("review_statuses[]", "confirmed"), ("limit", "100"))),
        Case("detections unreviewed", "/detections",
             W1 + s + (("review_statuses[]", "unreviewed"), ("limit", "100"))),
        Case("detections bad status", "/detections",
             W1 + s + (("review_statuses[]", "maybe"),)),
        Case("detections limit 1001", "/detections", W1 + s + (("limit", "1001"),)),
        Case("detections limit -1", "/detections", W1 + s + (("limit", "-1"),)),
        Case("detections limit 0", "/detections", W1 + s + (("limit", "0"),)),
        Case("detections no start", "/detections", (("end", "2024-03-02"), *s)),
        Case("detections bad start", "/detections",
             (("start", "yesterday"), ("end", "2024-03-02"), *s)),
        Case("detections epoch ms", "/detections",
             (("start", "1709251200000"), ("end", "1709337600000"), ("limit", "10"), *s)),
        Case("detections private stream", "/detections",
             (*W1, ("streams[]", "{private_stream}"), ("limit", "10"))),
        Case("detections public stream", "/detections",
             (*W1, ("streams[]", "{public_stream}"), ("limit", "10"))),
        Case("detections unknown stream", "/detections",
             (*W1, ("streams[]", "zzzzzzzzzzzz"), ("limit", "10"))),
        Case("detections as guest", "/detections", W1 + s + (("limit", "10"),), role="other"),
        Case("detections as outsider", "/detections", W1 + s + (("limit", "10"),),
             role="outsider"),
        Case("detections classifiers x", "/detections", W1 + s + (("classifiers[]", "x"),)),
        Case("detections no stream filter", "/detections", (*W1, ("limit", "20"))),
    ]
    return cases


def _stream_cases() -> list[Case]:
    return [
        Case("stream own", "/streams/{own_stream}"),
        Case("stream public of another", "/streams/{public_stream}"),
        Case("stream private of another", "/streams/{private_stream}"),
        Case("stream unknown", "/streams/zzzzzzzzzzzz"),
        Case("stream as guest", "/streams/{own_stream}", role="other"),
        Case("stream as outsider", "/streams/{own_stream}", role="outsider"),
        Case("stream permissions", "/streams/{own_stream}/permissions"),
        Case("project own", "/projects/{own_project}"),
        Case("project public", "/projects/{public_project}"),
        Case("project private of another", "/projects/{private_project}"),
        Case("project unknown", "/projects/zzzzzzzzzzzz"),
        Case("streams of project", "/streams", (("projects[]", "{own_project}"),)),
        Case("streams include public", "/streams", (("only_public", "true"), ("limit", "20"))),
        Case("streams name", "/streams", (("name", "Korup Plot A"),)),
    ]


def _segment_cases() -> list[Case]:
    p = "/streams/{own_stream}/segments"
    return [
        Case("segments day", p, W1),
        Case("segments limit 3", p, (*W1, ("limit", "3"))),
        Case("segments limit 3 offset 3", p, (*W1, ("limit", "3"), ("offset", "3"))),
        Case("segments limit 0", p, (*W1, ("limit", "0"))),
        Case("segments no end", p, (("start", "2024-03-01"),)),
        Case("segments bad start", p, (("start", "x"), ("end", "2024-03-02"))),
        Case("segments private stream", "/streams/{private_stream}/segments", W1),
        Case("segments unknown stream", "/streams/zzzzzzzzzzzz/segments", W1),
        Case("segment one", "/streams/{own_stream}/segments/{segment_start}"),
        Case("segment not a date", "/streams/{own_stream}/segments/notadate"),
        Case("segment none there", "/streams/{own_stream}/segments/2020-01-01T00:00:00.000Z"),
    ]


def _label_cases() -> list[Case]:
    a = (("stream_id", "{own_stream}"),)
    return [
        Case("annotations week", "/annotations", W7 + a),
        Case("annotations limit 3 offset 1", "/annotations",
             W7 + a + (("limit", "3"), ("offset", "1"))),
        Case("annotations classification", "/annotations",
             W7 + a + (("classifications[]", "{classification}"),)),
        Case("annotations no stream", "/annotations", (*W7, ("limit", "5"))),
        Case("annotations no stream as system", "/annotations", W7, role="system"),
        Case("annotations private stream", "/annotations",
             (*W7, ("stream_id", "{private_stream}"))),
        Case("annotations no start", "/annotations", a),
        Case("classifications", "/classifications"),
        Case("classifications limit 5 offset 5", "/classifications",
             (("limit", "5"), ("offset", "5"))),
        Case("classifications keyword a", "/classifications", (("keyword", "a"),)),
        Case("classifications keyword frog", "/classifications", (("keyword", "frog"),)),
        Case("classifications levels species", "/classifications", (("levels[]", "species"),)),
        Case("classifications limit 0", "/classifications", (("limit", "0"),)),
        Case("classification one", "/classifications/{classification}"),
        Case("classification unknown", "/classifications/no_such_value"),
        Case("classifiers", "/classifiers"),
        Case("classifiers limit 1", "/classifiers", (("limit", "1"),)),
        Case("classifier own", "/classifiers/{classifier}"),
        Case("classifier of another", "/classifiers/{other_classifier}"),
        Case("classifier unknown", "/classifiers/99999"),
        Case("classifier not a number", "/classifiers/abc"),
    ]


def _auth_cases() -> list[Case]:
    return [
        Case("health check", "/health-check", auth="none", volatile=("timescaledb.time",)),
        Case("no token", "/projects", auth="none"),
        Case("token without Bearer", "/projects", auth="raw"),
        Case("expired token", "/projects", role="expired"),
        Case("unknown route", "/no/such/route"),
        Case("unknown route no token", "/no/such/route", auth="none"),
    ]


def _job_cases() -> list[Case]:
    """Classifier jobs and classifier outputs (the loaded world's own jobs are not compared:
    the loader does not copy them, see docs/emulator.md "Classifier jobs")."""
    outputs = (("fields", "id"), ("fields", "name"), ("fields", "outputs"))
    return [
        Case("job unknown", "/classifier-jobs/987654"),
        Case("job not a number", "/classifier-jobs/abc"),
        Case("job summary unknown", "/classifier-jobs/987654/summary"),
        Case("job validation unknown", "/classifier-jobs/987654/validation"),
        Case("job best detections unknown", "/classifier-jobs/987654/best-detections"),
        Case("job best detections summary unknown",
             "/classifier-jobs/987654/best-detections/summary"),
        Case("jobs status not a number", "/classifier-jobs", (("status", "abc"),)),
        Case("jobs streams without the sort column", "/classifier-jobs",
             (("fields", "id"), ("fields", "streams"))),
        Case("classifiers with outputs", "/classifiers", outputs),
        Case("classifier default fields", "/classifiers/{classifier}"),
        Case("classifier with outputs", "/classifiers/{classifier}", outputs),
    ]


def cases() -> list[Case]:
    """Every case of the differential, named uniquely."""
    every = (_auth_cases() + _listing_cases("/projects", "projects")
             + _listing_cases("/streams", "streams") + _stream_cases() + _segment_cases()
             + _detection_cases() + _label_cases() + _job_cases())
    names = [c.name for c in every]
    assert len(names) == len(set(names)), "case names must be unique"
    return every
