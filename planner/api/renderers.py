"""CSV export (`?format=csv`) for list endpoints that return plain rows."""

from __future__ import annotations

import csv
import io
from typing import Any

from rest_framework.renderers import BaseRenderer


class CSVRenderer(BaseRenderer):
    """A list of flat dicts as CSV with a header row (the first row's keys, in order); an error body
    (a dict) becomes a one-row table. Lists inside a cell are joined with ';'."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type=None, renderer_context=None) -> bytes:
        rows = [data] if isinstance(data, dict) else list(data or [])
        out = io.StringIO()
        if rows:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow(
                    {k: ";".join(map(str, v)) if isinstance(v, list) else v for k, v in row.items()}
                )
        return out.getvalue().encode(self.charset)
