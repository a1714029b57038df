"""Arrays streamed into ``.npy`` and ``.npz`` files batch by batch, never copied whole.

``np.savez`` and ``np.save`` into a buffer go through whole-array or 16 MiB ``tobytes``
copies, so a shard of audio briefly takes twice its memory, and a writer must first hold
the whole shard. :func:`write_npy_rows` writes a ``[rows, columns]`` array's ``.npy``
(header, then the samples) from consecutive batches of rows, each written from views of
its own buffer (:data:`CHUNK_BYTES` at a time); :func:`write_npz_rows` does the same as
the one member of an ``.npz`` (what ``np.savez(f, name=array)`` writes). The files equal
what numpy writes for the concatenated batches.

Examples
--------
>>> import io
>>> buffer = io.BytesIO()
>>> write_npz_rows(buffer, "audio", (2, 3), [np.arange(6, dtype=np.float32).reshape(2, 3)])
>>> np.load(io.BytesIO(buffer.getvalue()))["audio"].tolist()
[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from typing import IO, Any

import numpy as np

#: Bytes handed to the file at a time: large enough to hide the loop, small beside a shard.
CHUNK_BYTES = 1 << 20


def write_npy_data(handle: IO[bytes] | Any, array: np.ndarray) -> int:
    """Write ``array``'s samples (C order, no header) to ``handle`` in small views.

    Parameters
    ----------
    handle
        A binary file or zip member opened for writing.
    array
        Any array; a C-contiguous one is written without a copy.

    Returns
    -------
    int
        Bytes written.

    Examples
    --------
    >>> import io
    >>> write_npy_data(io.BytesIO(), np.ones((2, 2), dtype=np.float32))
    16
    """
    flat = np.ascontiguousarray(array).reshape(-1)
    step = max(1, CHUNK_BYTES // max(1, flat.itemsize))
    for lo in range(0, flat.size, step):
        handle.write(flat[lo : lo + step].data.cast("B"))
    return int(flat.nbytes)


def write_npy_rows(handle: IO[bytes] | Any, shape: tuple[int, int],
                   batches: Iterable[np.ndarray], dtype: Any = np.float32) -> None:
    """A ``.npy`` of a ``[rows, columns]`` array written batch by batch.

    Only the batch being written is in memory; the bytes equal ``np.save`` of the
    concatenated batches.

    Parameters
    ----------
    handle
        A binary file or zip member opened for writing.
    shape
        The whole array's shape.
    batches
        Consecutive rows, each ``[k, shape[1]]`` (cast to ``dtype``).
    dtype
        The array's dtype.

    Raises
    ------
    ValueError
        When the batches hold another number of rows, or of columns, than ``shape``.

    Examples
    --------
    >>> import io
    >>> out = io.BytesIO()
    >>> write_npy_rows(out, (3, 2), [np.zeros((2, 2)), np.ones((1, 2))])
    >>> np.load(io.BytesIO(out.getvalue())).sum()
    np.float32(2.0)
    """
    kind = np.dtype(dtype)
    rows, columns = (int(n) for n in shape)
    header = {"descr": np.lib.format.dtype_to_descr(kind), "fortran_order": False,
              "shape": (rows, columns)}
    np.lib.format.write_array_header_1_0(handle, header)
    done = 0
    for batch in batches:
        if batch.ndim != 2 or batch.shape[1] != columns or done + len(batch) > rows:
            raise ValueError(f"a batch of shape {batch.shape} does not continue row {done} "
                             f"of an array of shape {(rows, columns)}")
        write_npy_data(handle, np.asarray(batch, dtype=kind))
        done += len(batch)
    if done != rows:
        raise ValueError(f"the batches held {done} rows for an array of shape "
                         f"{(rows, columns)}")


def write_npz_rows(handle: IO[bytes] | Any, name: str, shape: tuple[int, int],
                   batches: Iterable[np.ndarray], dtype: Any = np.float32) -> None:
    """An ``.npz`` holding one ``[rows, columns]`` member, written batch by batch.

    The archive is what ``np.savez(handle, **{name: array})`` writes (uncompressed,
    zip64) for the concatenated batches.

    Parameters
    ----------
    handle
        A binary file opened for writing (e.g. from :func:`rfcx_frames.files.open_atomic`).
    name
        The member's name (without ``.npy``).
    shape, batches, dtype
        As in :func:`write_npy_rows`.

    Examples
    --------
    >>> import io
    >>> out = io.BytesIO()
    >>> write_npz_rows(out, "audio", (1, 2), [np.ones((1, 2), np.float32)])
    >>> np.load(io.BytesIO(out.getvalue()))["audio"].shape
    (1, 2)
    """
    with zipfile.ZipFile(handle, mode="w", compression=zipfile.ZIP_STORED,
                         allowZip64=True) as archive, \
            archive.open(f"{name}.npy", "w", force_zip64=True) as member:
        # zip64 always, as numpy does: a member may pass 4 GiB.
        write_npy_rows(member, shape, batches, dtype)


__all__ = ["CHUNK_BYTES", "write_npy_data", "write_npy_rows", "write_npz_rows"]
