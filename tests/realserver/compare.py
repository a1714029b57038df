"""How two answers to one request differ: identical, only in the order of rows, or otherwise.

Examples
--------
>>> from tests.realserver.pair import Answer
>>> a = Answer(200, {}, [{"id": 1}, {"id": 2}], True)
>>> b = Answer(200, {}, [{"id": 2}, {"id": 1}], True)
>>> verdict(a, a), verdict(a, b)
('identical', 'order')
"""

from __future__ import annotations

import json
from typing import Any

from tests.realserver.pair import Answer


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def verdict(real: Answer, emulator: Answer) -> str:
    """``"identical"``, ``"order"`` (same rows, another order) or ``"differs"``."""
    if real.status != emulator.status or real.headers != emulator.headers:
        return "differs"
    if real.json != emulator.json:
        return "differs"
    if _canonical(real.body) == _canonical(emulator.body):
        return "identical"
    if isinstance(real.body, list) and isinstance(emulator.body, list) \
            and sorted(map(_canonical, real.body)) == sorted(map(_canonical, emulator.body)):
        return "order"
    return "differs"


def difference(real: Answer, emulator: Answer, width: int = 300) -> str:
    """A short human-readable account of where two answers part."""
    if real.status != emulator.status:
        return f"status real {real.status} emulator {emulator.status}: " \
               f"real {str(real.body)[:width]!r} emulator {str(emulator.body)[:width]!r}"
    if real.headers != emulator.headers:
        return f"headers real {real.headers} emulator {emulator.headers}"
    if isinstance(real.body, list) and isinstance(emulator.body, list):
        if len(real.body) != len(emulator.body):
            return f"rows real {len(real.body)} emulator {len(emulator.body)}"
        for i, (a, b) in enumerate(zip(real.body, emulator.body, strict=True)):
            if _canonical(a) != _canonical(b):
                return f"row {i}: real {_canonical(a)[:width]} emulator {_canonical(b)[:width]}"
    return f"real {_canonical(real.body)[:width]} emulator {_canonical(emulator.body)[:width]}"
