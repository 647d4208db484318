"""Write a generated Markdown table into README.md between two named markers."""

from __future__ import annotations

import pathlib

README = pathlib.Path(__file__).parent.parent / "README.md"


def replace_section(name: str, markdown: str) -> None:
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    text = README.read_text()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    head, rest = text.split(start)
    _, tail = rest.split(end)
    README.write_text(f"{head}{start}\n{markdown}\n{end}{tail}")
