"""XNAT's wire formats for tables and errors (xnat-rest.md §1, §3.1).

Tables are rendered as XFTTable does: every JSON cell a string, CSV quoted only where needed,
``totalRecords`` a string. Object documents (XML/JSON items) live in ``items.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html import escape

MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv",
    "xml": "text/xml",
    "html": "text/html",
    "txt": "text/plain",
    "zip": "application/zip",
    "tar.gz": "application/x-tar-gz",
    "tar": "application/x-tar",
}


@dataclass
class Table:
    """A listing: ordered column names, rows of cells, and ResultSet metadata."""

    columns: list[str]
    rows: list[list]
    title: str | None = None
    total: bool = True
    uri_column_meta: bool = False  # file listings carry Columns:[{"key":"URI",...}]
    meta: dict[str, str] = field(default_factory=dict)


def cell(value) -> str:
    """XFTTable's ValueParser: ``toString()``, ``None`` -> empty string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def table_json(table: Table) -> str:
    rows = [dict(zip(table.columns, map(cell, row))) for row in table.rows]
    head = '{"ResultSet":{'
    if table.uri_column_meta:
        head += '"Columns":[{"key":"URI","serverRoot":""}],'
    body = head + '"Result":' + json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
    meta = dict(table.meta)
    if table.title:
        meta["title"] = table.title
    if table.total:
        meta["totalRecords"] = str(len(table.rows))
    for key, value in meta.items():
        body += f", {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}"
    return body + "}}"


def _csv_cell(value) -> str:
    """StringEscapeUtils.escapeCsv after ValueParserNoNewline (newlines become spaces)."""
    text = cell(value).replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    if any(c in text for c in ',"'):
        return '"' + text.replace('"', '""') + '"'
    return text


def table_csv(table: Table) -> str:
    lines = [",".join(_csv_cell(c) for c in table.columns)]
    lines += [",".join(_csv_cell(v) for v in row) for row in table.rows]
    return "\n".join(lines) + "\n"


def table_xml(table: Table) -> str:
    out = [f'<ResultSet totalRecords="{len(table.rows)}"'
           + (f' title="{escape(table.title)}"' if table.title else "") + "><results><columns>"]
    out += [f"<column>{escape(c, quote=False)}</column>" for c in table.columns]
    out.append("</columns>\n<rows>")
    for row in table.rows:
        out.append("<row>" + "".join(f"<cell>{escape(cell(v), quote=False)}</cell>" for v in row)
                   + "</row>\n")
    out.append("</rows></results></ResultSet>")
    return "".join(out)


def table_html(table: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(cell(v))}</td>" for v in row) + "</tr>" for row in table.rows
    )
    return ('<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en"><body>'
            f'<table class="x_rs_t" cellpadding="0" cellspacing="0"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></body></html>")


TABLE_RENDERERS = {"json": table_json, "csv": table_csv, "xml": table_xml, "html": table_html}


def render_table(table: Table, fmt: str) -> tuple[str, str]:
    """Body and media type of a table; unknown formats fall back to JSON like XNAT's default."""
    fmt = fmt if fmt in TABLE_RENDERERS else "json"
    return TABLE_RENDERERS[fmt](table), MEDIA_TYPES[fmt]


def status_page(description: str) -> str:
    """Restlet 1.1's status page; pyxnat reads the ``<h3>`` text (xnat-rest.md §1)."""
    return (
        "<html>\n<head>\n   <title>Status page</title>\n</head>\n"
        '<body style="font-family: sans-serif;">\n'
        f"<h3>{escape(description, quote=False)}</h3>"
        '<p>You can get technical details <a href="http://www.w3.org/Protocols/rfc2616/'
        'rfc2616-sec10.html#sec10.4.5">here</a>.<br>\n'
        'Please continue your visit at our <a href="/">home page</a>.\n</p>\n</body>\n</html>\n'
    )
