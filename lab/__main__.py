"""`python -m lab`: the CLI; a Ctrl-C while Python is still importing it ends quietly too."""

try:
    from lab.cli import program
except KeyboardInterrupt:
    raise SystemExit(130) from None

raise SystemExit(program())
