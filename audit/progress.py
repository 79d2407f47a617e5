"""The progress display of long commands: a spinner per step on stderr (rich), or nothing."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def progress_display(enabled: bool):
    """Yield a ``progress(step)`` callable showing a spinner per step on stderr, or a no-op."""
    if not enabled:
        yield lambda step: None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None)
        yield lambda step: bar.update(task, description=step)
