"""Where the emulator's answer knowingly differs from the platform's own server, and why.

Case name -> (verdict accepted, reason). The reasons are the decisions of docs/emulator.md,
section "Differential against the platform's server".
"""

from __future__ import annotations

_TOP_N = ("Postgres sorts a LIMIT query with a bounded heap, which returns rows sharing the "
          "sort key (every demo stream has the same updated_at) in an order of its own; the "
          "emulator answers ties in storage order, as Postgres does without a LIMIT. The "
          "client does not depend on either (tests/client/test_ties.py).")

KNOWN: dict[str, tuple[str, str]] = {
    "streams limit 2": ("order", _TOP_N),
    "streams as system": ("order", _TOP_N),
}
