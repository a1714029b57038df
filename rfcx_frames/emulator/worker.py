"""Background queue workers: a thread that handles queued items one at a time, in order.

The platform's ingest service and classifier jobs are queue consumers; the emulator's
stand-ins (:class:`~rfcx_frames.emulator.ingest.Ingestor`,
:class:`~rfcx_frames.emulator.classifier_jobs.JobRunner`) subclass :class:`QueueWorker` and say
only what handling one item means.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")


class QueueWorker(Generic[Item]):
    """A daemon thread handing each queued item to :meth:`handle`; ``idle`` is set when done.

    Parameters
    ----------
    name
        The thread's name (seen in logs).
    stop_timeout_s
        How long :meth:`stop` waits for the item in hand.

    Examples
    --------
    >>> class Echo(QueueWorker[int]):
    ...     def handle(self, item: int) -> None:
    ...         print(item)
    >>> echo = Echo("echo", stop_timeout_s=5)
    >>> echo.put(1); echo.idle.wait(5)
    1
    True
    >>> echo.stop()
    """

    def __init__(self, name: str, stop_timeout_s: float) -> None:
        self.queue: queue.Queue[Item | None] = queue.Queue()
        self.idle = threading.Event()
        self.idle.set()
        self.stop_timeout_s = stop_timeout_s
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def put(self, item: Item) -> None:
        """Queue ``item``."""
        self.idle.clear()
        self.queue.put(item)

    def stop(self) -> None:
        """Stop after the item in hand."""
        self.queue.put(None)
        self.thread.join(timeout=self.stop_timeout_s)

    def handle(self, item: Item) -> None:
        """Do the work of one item (subclasses say what)."""
        raise NotImplementedError

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            try:
                self.handle(item)
            except Exception:  # a failed item must not stop the queue; the log says why
                log.exception("%s failed on %r", self.thread.name, item)
            if self.queue.empty():
                self.idle.set()
