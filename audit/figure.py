"""What a figure is once drawn: an SVG with the text a screen reader gets instead.

A neutral module: checks make figures, plots draw them, the report and render lay them out, and
none of them needs another to know the shape (importing it from ``checks`` made ``plots`` import
every check).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """An SVG figure with the text a screen reader gets instead."""

    svg: str
    alt: str
    title: str
