"""The emulator answers as the platform's own server does, request by request.

Each case of :mod:`tests.realserver.catalogue` goes to both servers; the answers must be
identical (status, ``Total-Items``, body), or differ in the way :data:`KNOWN` lists with its
reason (the decisions of docs/emulator.md, "Differential against the platform's server").
"""

from __future__ import annotations

import pytest

from tests.realserver.catalogue import cases
from tests.realserver.compare import difference, verdict
from tests.realserver.known import KNOWN
from tests.realserver.pair import Case, send
from tests.realserver.servers import Servers


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
def test_same_answer_as_the_platform(servers: Servers, case: Case) -> None:
    resolved = case.resolved(servers.ids)
    token = servers.tokens[case.role]
    real = send(servers.session, servers.real_url, token["real"], resolved)
    emulated = send(servers.session, servers.emulator.api_url, token["emulator"], resolved)
    accepted = KNOWN.get(case.name, ("identical", ""))[0]
    assert verdict(real, emulated) in ("identical", accepted), difference(real, emulated)
