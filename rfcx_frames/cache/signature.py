"""Filter signatures: what a cached pull was filtered by, and which pulls answer a query.

A :class:`FilterSignature` names everything that decides which rows the platform
returns for a time window: the endpoint, the API base URL, who asked (a non-secret
identity) and the row filters. It has no field for a token, so a token cannot reach
the cache through it.

Looser covers stricter: a cache entry pulled with signature ``C`` can answer a query
with signature ``Q`` when their identity fields match and every filter of ``C`` is
absent or wider than ``Q``'s; the rows are then filtered locally with
:func:`local_filter`.

Examples
--------
>>> loose = FilterSignature("detections", "https://api.rfcx.org", "u1", min_confidence=0.5)
>>> strict = FilterSignature("detections", "https://api.rfcx.org", "u1", min_confidence=0.9)
>>> loose.covers(strict), strict.covers(loose)
(True, False)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from rfcx_frames import config

REVIEW_STATUSES = config.REVIEW_STATUSES

# The columns each filter is checked against when filtering cached rows locally.
FILTER_COLUMNS: dict[str, str] = {
    "classifications": "classification_value",
    "classifiers": "classifier_id",
    "min_confidence": "confidence",
    "review_statuses": "review_status",
}

_JWT = re.compile(r"^[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*$")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        # pandas Timestamps are datetimes; isoformat keeps sub-second digits.
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"cannot key the cache on a non-finite number {value!r}")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return str(value)


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, sets as sorted lists, datetimes as ISO text.

    Examples
    --------
    >>> canonical_json({"b": frozenset({2, 1}), "a": None})
    '{"a":null,"b":[1,2]}'
    """
    return json.dumps(_jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def stable_hash(value: Any, length: int = 32) -> str:
    """The hex sha256 of :func:`canonical_json`, cut to ``length`` characters.

    Examples
    --------
    >>> stable_hash({"a": 1}) == stable_hash({"a": 1})
    True
    """
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:length]


def user_identity(user: str) -> str:
    """A non-secret identity for a user (an email or account id): a short sha256.

    Examples
    --------
    >>> len(user_identity("someone@example.org"))
    16
    """
    return hashlib.sha256(user.strip().lower().encode("utf-8")).hexdigest()[:16]


def _set_or_none(values: Iterable[Any] | None, kind: type) -> frozenset[Any] | None:
    if values is None:
        return None
    if isinstance(values, (str, bytes)):
        values = [values]
    return frozenset(kind(v) for v in values)


@dataclass(frozen=True)
class FilterSignature:
    """What a time-ranged pull was filtered by.

    Parameters
    ----------
    entity
        The endpoint / entity name, e.g. ``"detections"``.
    base_url
        The API base URL (a staging pull never answers a production query).
    user
        A non-secret identity of the caller (see :func:`user_identity`); ``""`` for
        anonymous pulls. A string shaped like a JWT is refused.
    classifications
        Classification values, or ``None`` for all.
    classifiers
        Classifier ids, or ``None`` for all.
    min_confidence
        The effective confidence threshold (rows with ``confidence >= min``), or
        ``None`` for no threshold.
    review_statuses
        Review status names (``unreviewed``, ``rejected``, ``uncertain``,
        ``confirmed``), or ``None`` for all.
    options
        Canonical JSON of the settings that make rows of a computed table
        (``indices_df``: indices, window length, rate, bands), or ``None``. Rows answer
        only a query with the very same options; absent from :meth:`to_dict` when
        ``None``, so the keys of every other entry stay as they were.

    Examples
    --------
    >>> sig = FilterSignature("detections", "https://api.rfcx.org", "u1", frozenset({"a"}))
    >>> sig.classifications
    frozenset({'a'})
    """

    entity: str
    base_url: str
    user: str = ""
    classifications: frozenset[str] | None = field(default=None)
    classifiers: frozenset[int] | None = field(default=None)
    min_confidence: float | None = None
    review_statuses: frozenset[str] | None = field(default=None)
    options: str | None = None

    def __post_init__(self) -> None:
        if not self.entity or "/" in self.entity or self.entity.startswith("."):
            raise ValueError(f"entity must be a plain name; got {self.entity!r}")
        if _JWT.match(self.user) or len(self.user) > 200:
            raise ValueError(
                "user must be a non-secret identity (see user_identity), not a token"
            )
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        object.__setattr__(self, "classifications", _set_or_none(self.classifications, str))
        object.__setattr__(self, "classifiers", _set_or_none(self.classifiers, int))
        statuses = _set_or_none(self.review_statuses, str)
        if statuses is not None and not statuses <= set(REVIEW_STATUSES):
            raise ValueError(
                f"review_statuses must be among {REVIEW_STATUSES}; got {sorted(statuses)}"
            )
        object.__setattr__(self, "review_statuses", statuses)
        if self.min_confidence is not None:
            object.__setattr__(self, "min_confidence", float(self.min_confidence))

    @classmethod
    def build(
        cls,
        entity: str,
        base_url: str,
        user: str = "",
        *,
        classifications: Iterable[str] | None = None,
        classifiers: Iterable[int] | None = None,
        min_confidence: float | None = None,
        review_statuses: Iterable[str] | None = None,
        options: Mapping[str, Any] | str | None = None,
    ) -> FilterSignature:
        """Build a signature from any iterables (lists, tuples, sets) of filter values.

        Examples
        --------
        >>> FilterSignature.build("detections", "http://x", classifiers=[2, 1]).classifiers
        frozenset({1, 2})
        """
        return cls(
            entity,
            base_url,
            user,
            classifications=_set_or_none(classifications, str),
            classifiers=_set_or_none(classifiers, int),
            min_confidence=min_confidence,
            review_statuses=_set_or_none(review_statuses, str),
            options=options if options is None or isinstance(options, str)
            else canonical_json(options),
        )

    def to_dict(self) -> dict[str, Any]:
        """The signature as plain JSON-able values (sets as sorted lists).

        Examples
        --------
        >>> FilterSignature("streams", "http://x").to_dict()["entity"]
        'streams'
        """
        plain = {name: getattr(self, name) for name in SIGNATURE_KEYS}
        if self.options is not None:
            plain["options"] = self.options
        result: dict[str, Any] = json.loads(canonical_json(plain))
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FilterSignature:
        """Rebuild a signature from :meth:`to_dict` output.

        Examples
        --------
        >>> s = FilterSignature.build("detections", "http://x", classifiers=[3])
        >>> FilterSignature.from_dict(s.to_dict()) == s
        True
        """
        return cls.build(**{k: data[k] for k in (*SIGNATURE_KEYS, "options") if k in data})

    @property
    def key(self) -> str:
        """A stable 32-hex-digit hash of the canonical JSON of the signature.

        Examples
        --------
        >>> a = FilterSignature.build("detections", "http://x", classifiers=[2, 1])
        >>> a.key == FilterSignature.build("detections", "http://x/", classifiers=(1, 2)).key
        True
        """
        return stable_hash(self.to_dict())

    def covers(self, query: FilterSignature) -> bool:
        """Whether rows pulled with this signature contain every row ``query`` asks for.

        Examples
        --------
        >>> everything = FilterSignature("detections", "http://x")
        >>> everything.covers(FilterSignature.build("detections", "http://x", classifications=["a"]))
        True
        """
        if (self.entity, self.base_url, self.user, self.options) != (
                query.entity, query.base_url, query.user, query.options):
            return False
        for mine, theirs in (
            (self.classifications, query.classifications),
            (self.classifiers, query.classifiers),
            (self.review_statuses, query.review_statuses),
        ):
            if mine is not None and (theirs is None or not theirs <= mine):
                return False
        if self.min_confidence is not None:
            return query.min_confidence is not None and self.min_confidence <= query.min_confidence
        return True

    def stricter_fields(self, query: FilterSignature) -> list[str]:
        """The filters of ``query`` that rows pulled with ``self`` must be filtered by.

        Examples
        --------
        >>> a = FilterSignature("detections", "http://x", min_confidence=0.5)
        >>> a.stricter_fields(FilterSignature("detections", "http://x", min_confidence=0.9))
        ['min_confidence']
        """
        return [name for name in FILTER_COLUMNS if getattr(self, name) != getattr(query, name)]


SIGNATURE_KEYS: tuple[str, ...] = (
    "entity",
    "base_url",
    "user",
    "classifications",
    "classifiers",
    "min_confidence",
    "review_statuses",
)


def can_filter(schema: pa.Schema, fields: Iterable[str]) -> bool:
    """Whether ``schema`` has the columns needed to apply ``fields`` locally.

    Examples
    --------
    >>> can_filter(pa.schema([("confidence", pa.float32())]), ["min_confidence"])
    True
    """
    names = set(schema.names)
    return all(FILTER_COLUMNS[name] in names for name in fields)


def local_filter(
    query: FilterSignature, fields: Iterable[str], schema: pa.Schema
) -> ds.Expression | None:
    """An Arrow expression keeping the rows of a looser pull that ``query`` wants.

    Comparisons happen in the column's own type, so a float32 confidence of exactly
    the threshold (as the platform compared it) is kept.

    Examples
    --------
    >>> q = FilterSignature("detections", "http://x", min_confidence=0.9)
    >>> local_filter(q, ["min_confidence"], pa.schema([("confidence", pa.float32())]))
    <pyarrow.compute.Expression (confidence >= 0.9)>
    """
    terms: list[ds.Expression] = []
    for name in fields:
        column = FILTER_COLUMNS[name]
        value = getattr(query, name)
        if value is None:
            continue
        col_type = schema.field(column).type
        value_type = col_type.value_type if pa.types.is_dictionary(col_type) else col_type
        ref = pc.field(column)
        if name == "min_confidence":
            terms.append(ref >= pa.scalar(value, type=value_type))
        else:
            ordered = sorted(value, key=str)
            terms.append(ref.isin(pa.array(ordered, type=value_type)))
    if not terms:
        return None
    expr = terms[0]
    for term in terms[1:]:
        expr = expr & term
    return expr
