"""`python -m lab`: the CLI.

Importing it takes a while; a Ctrl-C or SIGTERM meanwhile is held, not raised
inside the import machinery (where CPython can only print it as an "Exception
ignored" traceback), and then ends the program quietly with status 130.
"""

import signal

held = []
for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, lambda signum, frame: held.append(signum))
from lab.cli import program  # noqa: E402
if held:
    raise SystemExit(130)
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
raise SystemExit(program())
