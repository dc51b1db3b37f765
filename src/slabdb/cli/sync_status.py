"""``slabdb sync status`` as text: one short block per sync, readable at 80 columns.

::

    sync products
      pending      42 events (3 retrying after a failure)
      lag          1.3 s (age of the oldest pending event)
      errors       2 keys (slabdb sync retry-errors re-queues them)
      throughput   11.2 events/s over the last 5 minutes
      processed    1,234 keys, 1,300 texts embedded
      bootstrap    done
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
    from slabdb.sync.metrics import SyncStatus


def _bootstrap_state(done: bool | None) -> str:
    if done is None:
        return "not run (slabdb sync bootstrap enqueues existing rows)"
    return "done" if done else "in progress"


def status_rows(s: SyncStatus) -> list[tuple[str, str]]:
    """The figures of one sync, as (label, value) pairs."""
    retrying = f" ({s.retrying:,} retrying after a failure)" if s.retrying else ""
    errors_hint = " (slabdb sync retry-errors re-queues them)" if s.errors else ""
    return [
        ("pending", f"{s.pending:,} events{retrying}"),
        ("lag", f"{s.lag_seconds:,.1f} s (age of the oldest pending event)"),
        ("errors", f"{s.errors:,} keys{errors_hint}"),
        ("throughput", f"{s.events_per_second:,.1f} events/s over the last 5 minutes"),
        ("processed", f"{s.processed_total:,} keys, {s.embedded_total:,} texts embedded"),
        ("bootstrap", _bootstrap_state(s.bootstrapped)),
    ]


def render_status(s: SyncStatus) -> Text:
    """The block for one sync: a title line, then one indented line per figure."""
    text = Text("sync ", style="bold")
    text.append(s.sync, style="bold cyan")
    width = max(len(label) for label, _ in status_rows(s)) + 3
    for label, value in status_rows(s):
        text.append(f"\n  {label:<{width}}", style="bold")
        text.append(value)
    return text
