"""Byte-reproducible ``.skops`` model files.

``skops.io.dumps`` names every array file in its zip archive after the Python object's ``id()`` (a
memory address), writes the same addresses as ``__id__`` into ``schema.json`` and stamps each
entry with the current time. The same model saved twice therefore gives two different files, and
an audit of the same model two different SHA-256 hashes in its provenance.

:func:`dumps` rewrites what skops wrote, changing nothing skops reads back: the addresses become
0, 1, 2, ... in the order ``schema.json`` first names them (the same address always gets the same
number, so shared objects stay shared), array files are renamed to match, entries are written in
that order with a fixed timestamp and skops' own compression. Loading is skops' own
(``skops.io.load`` with the trusted types the user chooses).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

SCHEMA = "schema.json"
#: Zip's earliest representable date: an archive's entries carry no time of writing.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def dumps(model: Any) -> bytes:
    """The model as ``.skops`` bytes that depend only on the model, not on when or where it was saved."""
    import skops.io as sio

    source = zipfile.ZipFile(io.BytesIO(sio.dumps(model)))
    schema = json.loads(source.read(SCHEMA).decode("utf-8"))
    numbers: dict[int, int] = {}
    schema = _renumber(schema, numbers)
    renamed = {_file_name(old, name): _file_name(new, name)
               for name in source.namelist() if name != SCHEMA
               for old, new in numbers.items() if name.startswith(f"{old}.")}
    unnamed = [n for n in source.namelist() if n != SCHEMA and n not in renamed]
    if unnamed:  # a file schema.json never names: skops changed its format; refuse rather than guess
        raise ValueError(f"skops archive holds files its schema does not name: {unnamed}")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        entries = [(SCHEMA, json.dumps(schema, indent=2).encode("utf-8"), source.getinfo(SCHEMA).compress_type)]
        entries += sorted(((new, source.read(old), source.getinfo(old).compress_type) for old, new in renamed.items()),
                          key=lambda e: int(e[0].split(".", 1)[0]))
        for name, data, compression in entries:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = compression
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return out.getvalue()


def dump(model: Any, path: str | Path) -> None:
    """Write :func:`dumps` to ``path``."""
    Path(path).write_bytes(dumps(model))


def _renumber(node: Any, numbers: dict[int, int]) -> Any:
    """Replace every ``__id__`` (and the address in every ``file`` name) by its order of first appearance."""
    if isinstance(node, list):
        return [_renumber(item, numbers) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "__id__" and isinstance(value, int):
            out[key] = numbers.setdefault(value, len(numbers))
        elif key == "file" and isinstance(value, str) and value.split(".", 1)[0].isdigit():
            stem, _, suffix = value.partition(".")
            out[key] = f"{numbers.setdefault(int(stem), len(numbers))}.{suffix}"
        else:
            out[key] = _renumber(value, numbers)
    return out


def _file_name(number: int, original: str) -> str:
    return f"{number}.{original.partition('.')[2]}"
