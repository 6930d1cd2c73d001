"""The catalogue as a table: for `lab list`, and the README's section between its markers.

`python -m lab catalogue` prints the Markdown; `make readme` writes it into
README.md, and a test fails when the README and the scenario files differ.
"""

from lab.scenario.load import known_names, load, path_for
from lab.scenario.tags import plain
from lab import probes

BEGIN, END = "<!-- catalogue: made by `make readme` from scenarios/*.yaml -->", "<!-- /catalogue -->"


def scenarios():
    return [load(path_for(name)) for name in known_names()]


def faults_of(scenario):
    return sorted({s.fault for s in scenario.steps if s.fault and s.fault != "heal"})


def features_of(scenario):
    return sorted({feature for _, feature in probes.required(scenario)})


def family_of(scenario):
    """ "IPv4 and IPv6", or the one family the scenario makes sense in."""
    return " and ".join(f"IPv{f}" for f in scenario.families)


def markdown():
    """The table, then the scenarios of one family only, each with its reason."""
    rows = ["| scenario | what it shows | faults | needs | families |", "|---|---|---|---|---|"]
    for s in scenarios():
        rows.append(f"| `{s.name}` | {plain(s.summary)} | {', '.join(faults_of(s)) or '—'} | "
                    f"{', '.join(features_of(s)) or '—'} | {family_of(s)} |")
    only = [f"- `{s.name}` runs over {family_of(s)} only: {s.family_why}" for s in scenarios() if len(s.families) == 1]
    return "\n".join(rows + ["", "Run over the other family (`--family`), these are SKIPPED with their reason:", ""]
                     + only)


def readme_with_catalogue(readme):
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{markdown()}\n{END}{tail}"
