"""Run the whole differential and print one line per case: ``python -m tests.realserver.report``.

Reads ``RFCX_REALSERVER_URL`` and ``RFCX_REALSERVER_WORLD`` as the tests do; prints the
verdict of every case, where the answers part, and the totals that docs/emulator.md quotes.
"""

from __future__ import annotations

import collections
import os
import sys
import tempfile
from pathlib import Path

from tests.realserver.catalogue import cases
from tests.realserver.compare import difference, verdict
from tests.realserver.known import KNOWN
from tests.realserver.pair import send
from tests.realserver.servers import open_servers


def main() -> int:
    """Print the differential; exit 1 when a case differs in a way not listed as known."""
    url, world = os.environ["RFCX_REALSERVER_URL"], Path(os.environ["RFCX_REALSERVER_WORLD"])
    totals: collections.Counter[str] = collections.Counter()
    unexpected = 0
    with tempfile.TemporaryDirectory() as scratch, open_servers(url, world, Path(scratch)) as s:
        for case in cases():
            resolved = case.resolved(s.ids)
            token = s.tokens[case.role]
            real = send(s.session, s.real_url, token["real"], resolved)
            emulated = send(s.session, s.emulator.api_url, token["emulator"], resolved)
            seen = verdict(real, emulated)
            totals[seen] += 1
            known = KNOWN.get(case.name)
            mark = "" if seen == "identical" else ("known" if known and known[0] == seen
                                                   else "UNEXPECTED")
            unexpected += mark == "UNEXPECTED"
            detail = "" if seen == "identical" else difference(real, emulated, width=160)
            print(f"{seen:9} {mark:10} {case.name}: {detail}")
    print(f"\n{sum(totals.values())} cases: " + ", ".join(f"{v} {k}" for k, v in totals.items()))
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
