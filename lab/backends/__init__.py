"""Backends by name. Only docker exists today; a netns backend will be one more file."""

from lab.errors import ScenarioError

BACKENDS = ("docker",)


def get_backend(name="docker", say=lambda msg: None):
    if name not in BACKENDS:
        raise ScenarioError(f"unknown backend {name!r} (available: {', '.join(BACKENDS)})")
    from lab.backends.docker import DockerBackend
    return DockerBackend(say=say)
