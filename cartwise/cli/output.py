"""What the command line prints for people: the two consoles (results on stdout, progress
and errors on stderr), progress bars or plain progress lines, Rich tables of ingest
reports and items, and error lines."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from cartwise.errors import CartwiseError
from cartwise.feedback import FeedbackReport, Rate
from cartwise.ingest import IngestReport
from cartwise.results import ItemResult

console = Console()
err = Console(stderr=True)


def duration(seconds: float) -> str:
    """A time span as people read it: "4.2 s", "1 min 05 s", "1 h 02 min"."""
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class ProgressLines:
    """Progress for a log file or a pipe, where a progress bar shows nothing: a plain,
    flushed line per stage, per epoch, and every `every` seconds of a long count, each
    with the time elapsed and, where it can be known, the time left."""

    def __init__(self, console: Console, *, every: float = 10.0) -> None:
        self.console, self.every = console, every
        self.started = time.perf_counter()
        self._count_started = self._last = self.started

    def line(self, text: str) -> None:
        elapsed = duration(time.perf_counter() - self.started)
        self.console.print(f"[{elapsed}] {text}", markup=False, highlight=False, soft_wrap=True)
        self.console.file.flush()

    def stage(self, text: str) -> None:
        self._count_started = self._last = time.perf_counter()
        self.line(text)

    def count(self, label: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - self._last < self.every and not (total and done >= total):
            return
        self._last = now
        left = ""
        if total and 0 < done < total:
            left = f", about {duration((now - self._count_started) * (total - done) / done)} left"
        self.line(f"{label}: {done:,}" + (f" of {total:,} ({done / total:.0%}){left}" if total else ""))


@contextmanager
def show_progress(description: str) -> Iterator[object]:
    """A Rich progress bar fed by the ingest pipeline's (done, total) callback; plain
    lines when stderr is not a terminal."""
    if not err.is_terminal:
        lines = ProgressLines(err)
        lines.stage(description)
        yield lambda done, total: lines.count(description, done, total)
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total or None)

        yield update


def print_ingest_report(report: IngestReport, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(report.to_dict(), default=str))
        return
    table = Table(title=f"ingest {report.kind}: {report.source}", show_header=False)
    rate = report.rows_read / report.seconds if report.seconds else 0.0
    for label, value in [
        ("rows read", f"{report.rows_read:,}"),
        ("written", f"{report.rows_written:,}"),
        ("duplicates (unchanged)", f"{report.rows_duplicate:,}"),
        ("rejected", f"{report.rows_rejected:,}"),
        ("kept with warning", f"{report.warnings:,}"),
        ("users flagged as bots", f"{len(report.flagged_users):,}"),
        ("time", f"{report.seconds:.2f} s ({rate:,.0f} rows/s)"),
        ("report", str(report.report_path or "-")),
    ]:
        table.add_row(label, value)
    console.print(table)
    for note in report.notes:
        console.print(f"warning: {note}", style="yellow", markup=False, soft_wrap=True)
    if report.rejected_by_reason:
        why = Table(title="rejected rows by reason")
        why.add_column("reason")
        why.add_column("rows", justify="right")
        ranked = sorted(report.rejected_by_reason.items(), key=lambda kv: -kv[1])
        for reason, count in ranked[:15]:
            why.add_row(reason, f"{count:,}")
        console.print(why)


def print_items(title: str, items: list[ItemResult]) -> None:
    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("item")
    table.add_column("title")
    table.add_column("price", justify="right")
    table.add_column("score", justify="right")
    table.add_column("why")
    for rank, item in enumerate(items, 1):
        price = f"{item.price:,.2f} {item.currency or ''}".strip() if item.price is not None else "-"
        table.add_row(str(rank), item.item_id, item.title, price, f"{item.score:.3f}", item.reason)
    console.print(table)
    if not items:
        console.print("[yellow]no results[/yellow]")


def print_error(exc: CartwiseError, console: Console) -> None:
    """``error [field]: message`` and the hint, as plain Text: Rich markup would take
    ``[field]`` (or brackets in the message) for a style tag and drop it, and soft wrap
    keeps each line whole for whatever reads it from a pipe or a narrow terminal."""
    where = f" [{exc.field}]" if exc.field else ""
    console.print(Text.assemble((f"error{where}:", "bold red"), " ", exc.message), soft_wrap=True)
    if exc.hint:
        console.print(Text(f"hint: {exc.hint}", style="dim"), soft_wrap=True)


def _rate(rate: Rate) -> str:
    return f"{rate.rate:.2%} [dim]({rate.low:.2%}–{rate.high:.2%})[/dim]"


def feedback_table(report: FeedbackReport) -> Table:
    """Rates per placement and model version, each with its 95% interval."""
    table = Table(
        title=f"what the answers shown led to ({report.impressions:,} answers, {report.items_shown:,} items; "
        "95% intervals)"
    )
    for name in report.by:
        table.add_column(name.replace("_", " "))
    for column in ("answers", "items shown", "CTR", "add to cart", "conversion"):
        table.add_column(column, justify="right")
    for group in report.groups:
        keys = [str(getattr(group, name) or "-") for name in report.by]
        table.add_row(
            *keys, f"{group.answers:,}", f"{group.items_shown:,}", _rate(group.ctr), _rate(group.add_to_cart_rate),
            _rate(group.conversion),
        )
    return table
