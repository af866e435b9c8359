"""`data/dublin_core.csv`: one row per article in `dcterms:` columns, the shape Omeka S's CSV
Import and CONTENTdm take (map each column to the Dublin Core term of the same name).

Pure: rows of plain values in, RFC 4180 lines out, cells made safe for spreadsheets.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Iterator

from broadsheet.spreadsheet import safe_row

#: The columns, in order, with what each holds (the corpus page and the Data Package say the same).
COLUMNS = {
    "dcterms:identifier": "the archive page: its absolute URL on the hosted site, its path from the site root in the offline copy",
    "dcterms:title": "the headline as scraped",
    "dcterms:date": "the publication date and time, ISO 8601 with the source's UTC offset",
    "dcterms:creator": "the editor's code printed under the article (empty when there is none)",
    "dcterms:publisher": "the outlet",
    "dcterms:source": "where the text was read from: the original URL of a web capture, else the dump file, or "
                      "the table file and row (file#row=N)",
    "dcterms:language": "the text's language (BCP 47)",
    "dcterms:type": "the DCMI type: Text",
    "dcterms:rights": "the rights statement of the archive",
    "dcterms:isPartOf": "the archive, and the published dataset a table row comes from",
}
#: DCMI Type Vocabulary term for a news article.
DCMI_TYPE = "Text"


def dublin_core_csv(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The table, a line at a time: a header of `COLUMNS`, then one row per article in the
    order given (rows are read as the lines are written: a whole archive's need not be held)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    yield out.getvalue()
    for row in rows:
        out.seek(0)
        out.truncate()
        writer.writerow(safe_row({k: "" if row.get(k) is None else row[k] for k in COLUMNS}))
        yield out.getvalue()
