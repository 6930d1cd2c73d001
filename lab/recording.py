"""One scenario run, recorded: the one path that `lab run` (and `--repeat`), the
pytest plugin and so the kernel matrix's guest all take, so each leaves the same
files. The run's directory is opened (marked incomplete) before the run starts,
completed with result.json, the pcaps and the agent logs after it, and given a
report.html unless the scenario was skipped. A run that cannot start because its
runtime is not there (a kernel VM has no JRE) leaves no directory.

Runner and reports stay apart (data flows one way); this module is where one
feeds the other.
"""

import shutil

from lab import runner
from lab.errors import RuntimeUnavailable
from lab.reports import ladder, result as result_file


def run_recorded(scenario, backend, out, progress=lambda msg: None, runtime=None, family="4"):
    """Run scenario on backend over `family` (hosts without a runtime of their own in `runtime`),
    write its run directory under out; the RunResult knows where."""
    run_id = runner.new_run_id()
    directory = result_file.open_run(out, scenario, run_id)
    try:
        res = runner.run(scenario, backend, progress=progress, run_id=run_id, runtime=runtime, family=family)
    except RuntimeUnavailable:  # a kernel VM without the runtime: no run, so no run directory
        shutil.rmtree(directory)
        raise
    result_file.write(res, directory)
    if not res.skipped:
        ladder.write_report(directory)
    return res
