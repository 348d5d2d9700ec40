"""Tables that stay readable in any terminal width and when piped (rich then assumes 80 columns): a table
wider than the console is printed as one block per row, "column: value" per line, instead of cells cut to a
letter and an ellipsis."""

from __future__ import annotations

from rich.console import Console, Group
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


def print_table(console: Console, table: Table) -> None:
    """`table` as it is where it fits the console's width, else as records (module docstring)."""
    natural = Measurement.get(console, console.options.update_width(10_000), table).maximum
    if natural <= console.width:
        console.print(table)
        return
    headers = [str(column.header) for column in table.columns]
    cells = [[_plain(cell) for cell in column.cells] for column in table.columns]
    width = max((len(h) for h in headers), default=0)
    if table.title:
        console.print(Text(str(table.title), style="bold"))
    for row in range(table.row_count):
        lines = [
            Text.assemble((f"{header:>{width}}: ", "dim"), cells[i][row])
            for i, header in enumerate(headers)
            if cells[i][row]
        ]
        console.print(Group(*lines))
        if row < table.row_count - 1:
            console.print()


def _plain(cell: object) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)
