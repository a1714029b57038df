"""Darwin Core Archive files: the tab-separated tables, ``meta.xml``, ``eml.xml``, the zip.

Everything here turns finished tables into bytes (:func:`archive_bytes`); the one write
to disk goes through :func:`rfcx_frames.files.write_bytes`, so a failure leaves no file.
The bytes depend on the data alone (fixed member times, a package id derived from the
content), so the same history makes the same archive.

Examples
--------
>>> import zipfile
>>> events = pd.DataFrame({"site": ["a"], "eventID": ["a_1"], "decimalLatitude": ["18.3"],
...                        "decimalLongitude": ["-65.8"],
...                        "period_start": [pd.Timestamp("2024-03-01", tz="UTC")],
...                        "period_end": [pd.Timestamp("2024-03-02", tz="UTC")]})
>>> events = events.reindex(columns=[*EVENT_TERMS, "site", "period_start", "period_end"])
>>> occurrences = pd.DataFrame({"eventID": ["a_1"], "occurrenceID": ["a_1_owl"]}).reindex(
...     columns=OCCURRENCE_TERMS)
>>> about = Metadata(title="Owls", creator="Team", abstract="Owls.", protocol="recorders",
...                  license="CC0-1.0")
>>> data = archive_bytes(events, occurrences, about)
>>> data == archive_bytes(events, occurrences, about)  # the same data, the same bytes
True
>>> sorted(zipfile.ZipFile(io.BytesIO(data)).namelist())
['eml.xml', 'event.txt', 'meta.xml', 'occurrence.txt']
"""

from __future__ import annotations

import io
import os
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import pandas as pd

from rfcx_frames.ecology.dwc_tables import DWC, EVENT_TERMS, OCCURRENCE_TERMS
from rfcx_frames.files import write_bytes

EVENT_ROW_TYPE = DWC + "Event"
OCCURRENCE_ROW_TYPE = DWC + "Occurrence"
TEXT_NS = "http://rs.tdwg.org/dwc/text/"
EML_NS = "https://eml.ecoinformatics.org/eml-2.2.0"

#: Licences GBIF accepts, with their deeds.
LICENSES: Mapping[str, tuple[str, str]] = {
    "CC0-1.0": ("Creative Commons Zero v1.0 Universal",
                "https://creativecommons.org/publicdomain/zero/1.0/legalcode"),
    "CC-BY-4.0": ("Creative Commons Attribution 4.0 International",
                  "https://creativecommons.org/licenses/by/4.0/legalcode"),
    "CC-BY-NC-4.0": ("Creative Commons Attribution Non Commercial 4.0 International",
                     "https://creativecommons.org/licenses/by-nc/4.0/legalcode"),
}
# A fixed timestamp for every zip member, so the same data makes the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Metadata:
    """What ``eml.xml`` says of the dataset besides its tables.

    Attributes
    ----------
    title
        The dataset's title.
    creator
        Its creator and contact (an organisation or a person).
    abstract
        Its abstract.
    protocol
        The sampling method.
    license
        A key of :data:`LICENSES`.
    """

    title: str
    creator: str
    abstract: str
    protocol: str
    license: str


def write_archive(path: str | os.PathLike[str], events: pd.DataFrame,
                  occurrences: pd.DataFrame, metadata: Metadata) -> Path:
    """Write the archive of ``events`` and ``occurrences`` to ``path``, atomically.

    Parameters
    ----------
    path
        The ``.zip`` to write; its folder is created if missing.
    events, occurrences
        :func:`~rfcx_frames.ecology.dwc_tables.event_table` and
        :func:`~rfcx_frames.ecology.dwc_tables.occurrence_table`.
    metadata
        The dataset's description.

    Returns
    -------
    pathlib.Path
        The archive written.

    Examples
    --------
    >>> write_archive("owls.zip", events, occurrences, metadata)  # doctest: +SKIP
    PosixPath('owls.zip')
    """
    target = Path(path)
    write_bytes(target, archive_bytes(events, occurrences, metadata))
    return target


def archive_bytes(events: pd.DataFrame, occurrences: pd.DataFrame, metadata: Metadata) -> bytes:
    """The zip of ``meta.xml``, ``eml.xml``, ``event.txt`` and ``occurrence.txt``.

    Parameters
    ----------
    events, occurrences, metadata
        As for :func:`write_archive`.

    Returns
    -------
    bytes
        The archive, the same bytes for the same input.

    Examples
    --------
    >>> archive_bytes(events, occurrences, metadata)[:2]  # doctest: +SKIP
    b'PK'
    """
    return _zip({
        "meta.xml": meta_xml(),
        "eml.xml": eml_xml(events, occurrences, metadata),
        "event.txt": tsv(events[list(EVENT_TERMS)]),
        "occurrence.txt": tsv(occurrences[list(OCCURRENCE_TERMS)]),
    })


def tsv(frame: pd.DataFrame) -> bytes:
    """Tab-separated UTF-8 with a header line; no quoting, so no tab or newline in values.

    Parameters
    ----------
    frame
        The table; missing values become empty fields.

    Returns
    -------
    bytes
        UTF-8 text: a header line of the column names, then one line per row.

    Examples
    --------
    >>> tsv(pd.DataFrame({"a": ["x\\ty", None], "b": [1, 2]}))
    b'a\\tb\\nx y\\t1\\n\\t2\\n'
    """
    text = frame.astype(object).where(frame.notna(), "").astype(str)
    text = text.apply(lambda col: col.str.replace(r"[\t\r\n]+", " ", regex=True))
    lines = [("\t".join(frame.columns))]
    if len(text):
        first, *rest = (text[c] for c in text.columns)
        lines.extend(first.str.cat(rest, sep="\t").tolist() if rest else first.tolist())
    return ("\n".join(lines) + "\n").encode("utf-8")


def meta_xml() -> bytes:
    """``meta.xml``: the Event core and Occurrence extension files and their terms.

    Returns
    -------
    bytes
        The XML document, the same for every archive of this version.

    Examples
    --------
    >>> b'rowType="http://rs.tdwg.org/dwc/terms/Event"' in meta_xml()
    True
    """
    archive = ET.Element("archive", {"xmlns": TEXT_NS, "metadata": "eml.xml"})
    archive.append(_file_element("core", EVENT_ROW_TYPE, "event.txt", EVENT_TERMS))
    archive.append(_file_element("extension", OCCURRENCE_ROW_TYPE, "occurrence.txt",
                                 OCCURRENCE_TERMS))
    return _xml_bytes(archive)


def _file_element(tag: str, row_type: str, location: str, terms: tuple[str, ...]) -> ET.Element:
    node = ET.Element(tag, {
        "encoding": "UTF-8", "fieldsTerminatedBy": "\\t", "linesTerminatedBy": "\\n",
        "fieldsEnclosedBy": "", "ignoreHeaderLines": "1", "rowType": row_type,
    })
    ET.SubElement(ET.SubElement(node, "files"), "location").text = location
    ET.SubElement(node, "id" if tag == "core" else "coreid", {"index": "0"})
    for index, term in enumerate(terms):
        ET.SubElement(node, "field", {"index": str(index), "term": DWC + term})
    return node


def _xml_bytes(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def eml_xml(events: pd.DataFrame, occurrences: pd.DataFrame, metadata: Metadata) -> bytes:
    """``eml.xml``: title, creator, abstract, licence, coverage and method of the dataset.

    Parameters
    ----------
    events, occurrences, metadata
        As for :func:`write_archive`; coverage comes from the events.

    Returns
    -------
    bytes
        The file's content; its ``packageId`` is derived from the title and event ids.

    Examples
    --------
    >>> eml_xml(events, occurrences, metadata)  # doctest: +SKIP
    """
    packed = "\n".join([metadata.title, *sorted(events["eventID"])])
    root = ET.Element("eml:eml", {
        "xmlns:eml": EML_NS, "packageId": str(uuid.uuid5(uuid.NAMESPACE_URL, packed)),
        "system": "rfcx_frames", "xml:lang": "en",
    })
    dataset = ET.SubElement(root, "dataset")
    ET.SubElement(dataset, "title").text = metadata.title
    ET.SubElement(ET.SubElement(dataset, "creator"), "organizationName").text = metadata.creator
    ET.SubElement(ET.SubElement(dataset, "abstract"), "para").text = metadata.abstract
    _add_license(dataset, metadata.license)
    _add_coverage(dataset, events)
    ET.SubElement(ET.SubElement(dataset, "contact"), "organizationName").text = metadata.creator
    step = ET.SubElement(ET.SubElement(dataset, "methods"), "methodStep")
    ET.SubElement(ET.SubElement(step, "description"), "para").text = metadata.protocol
    return _xml_bytes(root)


def _add_license(dataset: ET.Element, license: str) -> None:
    """The licence twice, as GBIF reads it: a sentence with a link, and its identifier."""
    name, url = LICENSES[license]
    rights = ET.SubElement(ET.SubElement(dataset, "intellectualRights"), "para")
    rights.text = "This dataset is published under the "
    link = ET.SubElement(rights, "ulink", {"url": url})
    ET.SubElement(link, "citetitle").text = f"{name} ({license})"
    link.tail = "."
    licensed = ET.SubElement(dataset, "licensed")
    ET.SubElement(licensed, "licenseName").text = name
    ET.SubElement(licensed, "url").text = url
    ET.SubElement(licensed, "identifier").text = license


def _add_coverage(dataset: ET.Element, events: pd.DataFrame) -> None:
    """Where and when: the sites' bounding box and the events' first and last UTC day."""
    coverage = ET.SubElement(dataset, "coverage")
    where = ET.SubElement(coverage, "geographicCoverage")
    ET.SubElement(where, "geographicDescription").text = (
        f"{events['site'].nunique()} recording sites")
    box = ET.SubElement(where, "boundingCoordinates")
    lat = pd.to_numeric(events["decimalLatitude"])
    lon = pd.to_numeric(events["decimalLongitude"])
    for tag, value in (("westBoundingCoordinate", lon.min()), ("eastBoundingCoordinate", lon.max()),
                       ("northBoundingCoordinate", lat.max()),
                       ("southBoundingCoordinate", lat.min())):
        ET.SubElement(box, tag).text = repr(float(value))
    first, last = event_span(events)
    dates = ET.SubElement(ET.SubElement(coverage, "temporalCoverage"), "rangeOfDates")
    ET.SubElement(ET.SubElement(dates, "beginDate"), "calendarDate").text = f"{first:%Y-%m-%d}"
    ET.SubElement(ET.SubElement(dates, "endDate"), "calendarDate").text = f"{last:%Y-%m-%d}"


def event_span(events: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The UTC start of the first event and end of the last.

    Parameters
    ----------
    events
        :func:`~rfcx_frames.ecology.dwc_tables.event_table`.

    Returns
    -------
    tuple of pandas.Timestamp
        ``(first, last)``, UTC.

    Examples
    --------
    >>> ev = pd.DataFrame({"period_start": [pd.Timestamp("2024-03-01", tz="UTC")],
    ...                    "period_end": [pd.Timestamp("2024-03-02", tz="UTC")]})
    >>> [str(t.date()) for t in event_span(ev)]
    ['2024-03-01', '2024-03-02']
    """
    return (pd.Timestamp(events["period_start"].min()).tz_convert("UTC"),
            pd.Timestamp(events["period_end"].max()).tz_convert("UTC"))


def _zip(members: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()
