"""Progress on long work: a spinner in a terminal, and in a log (a CI job's, a file) a line
now and then, so a 10-minute kernel matrix is not 10 silent minutes.

update(message) says what runs now: in a log it is printed when it is the first, or when
EVERY seconds have passed since the last line printed. event(message) says something
finished (a kernel's scenario passed): printed at once, above the spinner in a terminal.

    >>> from io import StringIO
    >>> from rich.console import Console
    >>> out = StringIO()
    >>> with progress(Console(file=out), "starting") as p:
    ...     p.update("step 1")
    >>> out.getvalue().split("] ")[1]
    'starting\\n'
    >>> with progress(Console(file=out), "starting") as p:
    ...     p.event("6.1: crash-reset PASSED")
    >>> out.getvalue().splitlines()[-1].split("] ")[1]
    '6.1: crash-reset PASSED'
"""

import contextlib
import time

EVERY = 10.0  # seconds between log lines


class LogLines:
    """The spinner's interface (update, stop, start), as timestamped lines."""

    def __init__(self, console, first):
        self.console, self.began, self.printed = console, time.monotonic(), None
        self.update(first)

    def update(self, message):
        now = time.monotonic()
        if self.printed is None or now - self.printed >= EVERY:
            self.console.print(f"[{now - self.began:7.1f} s] {message}", markup=False, highlight=False, soft_wrap=True)
            self.printed = now

    def event(self, message):
        now = time.monotonic()
        self.console.print(f"[{now - self.began:7.1f} s] {message}", markup=False, highlight=False, soft_wrap=True)
        self.printed = now

    def stop(self):
        pass

    def start(self):
        pass


@contextlib.contextmanager
def progress(console, first):
    if console.is_terminal:
        with console.status(first) as status:
            status.event = lambda message: console.print(message, markup=False, highlight=False, soft_wrap=True)
            yield status
    else:
        yield LogLines(console, first)
