"""Streamed CSV exports: the chunks, joined, are the whole file, every row through the cells' escape."""

from __future__ import annotations

import io

from attribution.reports.cells import CsvWriter, csv_chunks

ROWS = [
    ["tenant", "amount"],
    ['=HYPERLINK("http://evil.example")', "-1.230000"],
    ["acme\rforged,row", 5],
    ["globex", 7],
    ["+cmd", 0],
]


def _whole(rows: list[list[object]]) -> str:
    out = io.StringIO()
    writer = CsvWriter(out)
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def test_chunks_join_to_the_whole_file_at_any_chunk_size() -> None:
    whole = _whole(ROWS)
    assert "'=HYPERLINK" in whole and "'+cmd" in whole  # the escape ran
    for size in (1, 2, 3, len(ROWS), 100):
        chunks = list(csv_chunks(ROWS, rows_per_chunk=size))
        assert "".join(chunks) == whole
        assert len(chunks) == -(-len(ROWS) // size), "rows held back or an empty chunk"


def test_no_rows_no_chunks() -> None:
    assert list(csv_chunks([])) == []
