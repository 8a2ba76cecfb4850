"""The process around a command: one line and exit code 2 for an operator's mistake; SIGTERM handled."""

from __future__ import annotations

import sys

from attribution.cli.common import err
from attribution.cli.root import cli_command


def main() -> None:
    """The entry point: an operator's mistake (settings, database) is one line and exit code 2."""
    try:
        cli_command()(prog_name="attribution")
    except Exception as exc:
        from rich.markup import escape

        from attribution.cli.failures import describe

        failure = describe(exc)
        if failure is None:
            raise
        code, line = failure
        err().print(f"[red]error[/red] ({code}): {escape(line)}", highlight=False)
        raise SystemExit(2) from None


def _terminate(signum: int, _frame: object) -> None:
    """SIGTERM: unwind the command (transactions roll back, servers close), then leave without the
    interpreter's teardown (``entry``). A command that handles SIGTERM itself (``serve``, ``sim serve``,
    the scheduler) replaces this handler and gives the signal back here when it has stopped."""
    global _terminated  # noqa: PLW0603 - one process-wide fact, read once by entry()
    _terminated = True
    raise SystemExit(128 + signum)


_terminated = False


def entry() -> None:
    """The console script (and ``python -m attribution.cli``): ``main`` with SIGTERM handled.

    A container's PID 1 has no default SIGTERM action, so without a handler a one-off command ignored
    ``docker stop`` for 10 s. Once SIGTERM has stopped a command, the process exits at once: tearing
    down the interpreter (a few hundred modules) takes 0.3-1.5 s on a busy machine, and the image must
    stop within a second. Everything is flushed first; the exit code is 128 + 15."""
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    try:
        main()
    except SystemExit as exc:
        if not _terminated:
            raise
        import logging
        import os

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exc.code if isinstance(exc.code, int) else 1)
