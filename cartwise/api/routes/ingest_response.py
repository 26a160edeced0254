"""Turns an ingest report into the HTTP response body shared by items and events."""

from __future__ import annotations

from fastapi import Response

from cartwise.api.schemas import IngestResponse, RejectedRow
from cartwise.ingest import IngestReport


def to_response(report: IngestReport, response: Response) -> IngestResponse:
    body = IngestResponse(
        received=report.rows_read,
        written=report.rows_written,
        duplicates=report.rows_duplicate,
        rejected=[RejectedRow(index=int(r.line), field=r.field, reason=r.reason) for r in report.rejects],
        warnings=report.warnings,
        flagged_users=list(report.flagged_users),
        notes=list(report.notes),
    )
    if report.rows_read and report.rows_rejected == report.rows_read:
        response.status_code = 422
    return body
