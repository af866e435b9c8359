"""CSV cells that a spreadsheet opens as text, never as a formula (OWASP: CSV injection).

Excel, LibreOffice and Google Sheets run a cell that begins with `=`, `+`, `-` or `@` as a
formula (tab and carriage return can hide such a start), so a scraped title such as
`=HYPERLINK("http://...")` would become a live link in the reader's spreadsheet. OWASP's advice
is to begin such a cell with a single quote, which spreadsheets show as text. A cell that
already begins with a quote gets one more, so the rule can always be undone: drop one leading
quote (`restore`). Every CSV Broadsheet writes passes its cells through `safe_cell`; JSON and
JSON Lines keep the text exactly as scraped.
"""

from __future__ import annotations

from typing import Any

#: What a spreadsheet may read as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Begins a neutralised cell.
QUOTE = "'"


def safe_cell(value: Any) -> Any:
    """`value` with a quote in front when it is text a spreadsheet would run (or already
    begins with the quote); numbers, booleans and None are returned as they are."""
    if isinstance(value, str) and value.startswith((*FORMULA_STARTS, QUOTE)):
        return QUOTE + value
    return value


def safe_row(row: dict[str, Any]) -> dict[str, Any]:
    """Every cell of a CSV row through `safe_cell`."""
    return {key: safe_cell(value) for key, value in row.items()}


def restore(cell: str) -> str:
    """The text a neutralised cell stood for (the inverse of `safe_cell` for text)."""
    return cell[len(QUOTE):] if cell.startswith(QUOTE) else cell
