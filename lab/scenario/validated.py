"""Which scenario texts have passed the schema already, so that no process asks it again.

Checking a scenario against the schema (jsonschema) is most of what loading it
costs: the catalogue's 45 files took 0.9 of 1.2 s on the host and 4 of 5 s in a
VM under TCG (2026-11-29), and pytest loads the whole catalogue in each of its
workers. A text that passed leaves an empty file, named by its hash, in the
cache's folder of that schema (`valid/<schema hash>/`; any change of the
schema is a new folder); `lab matrix` puts that folder in each guest's cache.
"""

import functools
import json

from lab.cache import cache_dir, digest


@functools.cache
def schema_digest(schema_json):
    return digest(schema_json)


def folder(schema):
    return cache_dir() / "valid" / schema_digest(json.dumps(schema, sort_keys=True))


def passed(schema, text):
    return (folder(schema) / digest(text)).exists()


def remember(schema, text):
    place = folder(schema)
    try:
        place.mkdir(parents=True, exist_ok=True)
        (place / digest(text)).touch()
    except OSError:
        pass  # a read-only cache: the schema is asked again next time
