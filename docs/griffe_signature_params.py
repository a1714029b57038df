"""A Griffe extension for the documentation build: each parameter shows its own type.

numpy-style docstrings may describe several parameters in one entry (``start, end`` or
``retries, backoff_factor``). Griffe gives every name of such an entry the annotation and
default of the *first* name, so the reference would show ``backoff_factor`` as an ``int``
defaulting to ``RETRIES``. The docstrings of rfcx_frames never state types (the signatures
do), so after parsing, this extension copies the annotation and default of each documented
parameter from the signature.

Loaded by ``mkdocs.yml`` (``extensions:`` of the mkdocstrings Python handler); not part of
the package.
"""

from __future__ import annotations

from typing import Any

import griffe


def use_signature(obj: griffe.Object, parameters: griffe.Parameters) -> None:
    r"""Give every documented parameter of ``obj`` the annotation and default of its signature.

    Examples
    --------
    >>> code = "def f(a: int = 1, b: str = 'x'):\n    '''F.\n\n    Parameters\n"
    >>> code += "    ----------\n    a, b\n        Both.\n    '''\n"
    >>> f = griffe.visit("m", filepath="m.py", code=code, docstring_parser="numpy")["f"]
    >>> use_signature(f, f.parameters)
    >>> [(p.name, str(p.annotation), p.value) for p in f.docstring.parsed[1].value]
    [('a', 'int', '1'), ('b', 'str', "'x'")]
    """
    if obj.docstring is None:
        return
    for section in obj.docstring.parsed:
        if section.kind is not griffe.DocstringSectionKind.parameters:
            continue
        for documented in section.value:
            if documented.name in parameters:
                declared = parameters[documented.name]
                documented.annotation = declared.annotation
                documented.value = declared.default


class SignatureParameters(griffe.Extension):
    """Apply :func:`use_signature` to every function and class once the tree is loaded."""

    def on_function(self, *, func: griffe.Function, loader: griffe.GriffeLoader,
                    **kwargs: Any) -> None:
        use_signature(func, func.parameters)

    def on_class(self, *, cls: griffe.Class, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        # A class docstring documents the parameters of __init__.
        use_signature(cls, cls.parameters)
