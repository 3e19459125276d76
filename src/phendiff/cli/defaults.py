"""Defaults and choices of the command line, read from the configuration dataclasses.

Each option is written once, in :mod:`phendiff.config`; ``--help`` shows its default from
there, so the two can never disagree.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def default(cls: type, name: str) -> Any:
    """The default of field ``name`` of the dataclass ``cls``."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            return f.default_factory()  # type: ignore[misc]
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def shown(value: Any) -> str:
    """A default as a user would type it: ``none``, ``on``/``off``, ``A,B`` for tuples."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
        return f"{value:,.0f}"
    return str(value)


def with_default(help_text: str, cls: type, name: str) -> str:
    """``help_text`` followed by ``(default: <the dataclass default>)``."""
    return f"{help_text} (default: {shown(default(cls, name))})".lstrip()


def add_option(group, flag: str, cls: type, name: str, what: str, given_only: bool = False, **kw):
    """Add ``flag`` for field ``name`` of ``cls``; its help ends with the field's default.

    The argument's own default is the field's default, or None with ``given_only`` (for
    options that a configuration file or a resumed run may also supply). Other keywords
    (``type``, ``metavar``, ``choices``, ...) go to ``add_argument``.
    """
    if flag.lstrip("-").replace("-", "_") != name:
        kw["dest"] = name
    value = None if given_only else default(cls, name)
    return group.add_argument(flag, default=value, help=with_default(what, cls, name), **kw)


def options_from(cls: type, args: Any) -> Any:
    """``cls`` built from the parsed ``args`` named like its fields; the others keep defaults."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in vars(args).items() if k in names})


def add_device(group) -> None:
    """Add ``--device`` (where networks run) to a command."""
    group.add_argument(
        "--device",
        default="auto",
        metavar="DEVICE",
        help="where the networks run: auto (a CUDA GPU when PyTorch sees one, else the "
        "CPU), cpu, cuda or cuda:N (default: auto)",
    )


def device_from(value: str) -> str:
    """The torch device named by ``--device``, checked against this machine."""
    import re

    import torch

    from phendiff.errors import PhendiffError

    if value == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if value == "cpu":
        return value
    match = re.fullmatch(r"cuda(?::(\d+))?", value)
    if not match:
        raise PhendiffError(f"--device {value!r}: expected auto, cpu, cuda or cuda:N")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(match.group(1) or 0)
    if index >= count:
        raise PhendiffError(
            f"--device {value}: PyTorch sees {count} CUDA GPU(s) on this machine; use "
            "--device cpu, auto, or a GPU index below the count"
        )
    return value
