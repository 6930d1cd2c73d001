"""Claim tags: in a scenario's summary and story, a claim is followed by the ids of the steps or
packet rules that check it, `[id]` or `[id1, id2]` (tests/test_claims.py resolves them and holds
each tagged number against what its step or rule allows). Readers never see them: every place
that shows a text shows `plain(text)`.

    >>> plain("connect() fails with ETIMEDOUT [patient] after 3.05-3.08 s [patient, syn-resent].")
    'connect() fails with ETIMEDOUT after 3.05-3.08 s.'
    >>> [m.group("ids") for m in TAG.finditer("a [x] b [y-2, z]")]
    ['x', 'y-2, z']
    >>> ids("y-2, z")
    ['y-2', 'z']
"""

import re

ID = r"[a-z][a-z0-9-]*"
TAG = re.compile(rf"\s?\[(?P<ids>{ID}(?:,\s*{ID})*)\]")


def ids(text):
    """The ids one tag names."""
    return [i.strip() for i in text.split(",")]


def plain(text):
    """The text as a reader sees it: without its tags."""
    return TAG.sub("", text or "")
