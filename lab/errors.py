"""The lab's exceptions: catch `LabError` to catch them all.

    LabError
    ├── ScenarioError    bad input: a scenario file, a name, a CLI argument (exit 2)
    ├── SetupError       the user's environment: engine unreachable, build failed (exit 2)
    ├── StepTimeout      a deadline ran out: in a step, its TIMEOUT outcome; in set-up, a failed run (exit 1)
    ├── HostGone         a host is stopped or removed: nothing can run in it (a revert's "already gone")
    └── FaultError       a host refused to apply or undo a fault (a step's ERROR; unhealed faults fail the run)

A failed expectation is not an error: it is a verdict, and exits 1.
Anything else is a bug and shows a traceback.
"""


class LabError(Exception):
    """Base of every error the lab raises on purpose."""


class ScenarioError(LabError):
    """A scenario (or the name of one) is not valid: one line, file:line, what is allowed."""


class SetupError(LabError):
    """The machine cannot run the lab as it is: say what to do about it."""


class RuntimeUnavailable(SetupError):
    """A runtime this place cannot run (java or node in a kernel VM): its scenarios are SKIPPED there."""


class StepTimeout(LabError):
    """A step's call, wait or fault did not complete before its deadline."""


class HostGone(LabError):
    """The host is stopped or removed, so a command cannot run in it (and its rules went with it)."""


class FaultError(LabError):
    """A fault could not be applied, or undone: which host, which command, what it said."""
