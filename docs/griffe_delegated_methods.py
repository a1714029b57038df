"""A Griffe extension for the documentation build: the Client's methods as the API documents them.

:class:`rfcx_frames.Client` takes each public method from a function of
:mod:`rfcx_frames.api` (``detections_df = ranged.detections_df``): the function holds the
signature and the numpy docstring, and its first parameter is the client itself. Static
analysis sees such a line as an attribute; this extension replaces each one with a method
built from the function (``self`` in place of its first parameter), so the reference shows
the same signature and documentation as ``help(client.detections_df)``.

Loaded by ``mkdocs.yml`` (``extensions:`` of the mkdocstrings Python handler); not part of
the package.
"""

from __future__ import annotations

from typing import Any

import griffe


def delegated_target(attribute: griffe.Attribute) -> str | None:
    """``module.function`` of an attribute assigned from a module's function, else None.

    Examples
    --------
    >>> code = "from rfcx_frames.api import seed\\nclass C:\\n    projects = seed.projects\\n"
    >>> mod = griffe.visit("m", filepath="m.py", code=code)
    >>> delegated_target(mod["C"]["projects"])
    'rfcx_frames.api.seed.projects'
    """
    value = attribute.value
    if not isinstance(value, griffe.ExprAttribute):
        return None
    return value.canonical_path


def as_method(function: griffe.Function, name: str, parent: griffe.Class) -> griffe.Function:
    """A copy of ``function`` as a method of ``parent``: ``self`` replaces the first parameter."""
    parameters = list(function.parameters)
    method = griffe.Function(
        name, lineno=function.lineno, endlineno=function.endlineno,
        parameters=griffe.Parameters(griffe.Parameter("self", kind=parameters[0].kind),
                                     *parameters[1:]),
        returns=function.returns, docstring=function.docstring, parent=parent)
    return method


class DelegatedMethods(griffe.Extension):
    """Turn ``name = module.function`` lines of rfcx_frames classes into documented methods."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.name != "rfcx_frames":
            return
        client = pkg["client"]["Client"]
        for name, member in list(client.members.items()):
            if not isinstance(member, griffe.Attribute):
                continue
            target = delegated_target(member)
            if target is None or not target.startswith("rfcx_frames.api."):
                continue
            function = loader.modules_collection[target]
            if isinstance(function, griffe.Function):
                client.set_member(name, as_method(function, name, client))
