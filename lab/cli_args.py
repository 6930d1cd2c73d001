"""What the lab's command line takes: a parser whose errors are one line, and the value types
it checks."""

import argparse
import sys


class Parser(argparse.ArgumentParser):
    def error(self, message):
        """One line, exit 2, like every other bad input (argparse would add the usage)."""
        print(f"lab: {message} (see `lab --help`)", file=sys.stderr)
        raise SystemExit(2)


def repeat_count(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"--repeat takes a whole number from 1 to 1000, not {text!r}")
    return value


def shard(text):
    """`lab matrix --shard I/N` and pytest's `--lab-shard I/N` as a lab.shard.Shard."""
    from lab.shard import Shard
    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
