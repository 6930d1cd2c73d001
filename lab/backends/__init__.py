"""Backends by name: hosts as Docker containers, or as network namespaces on this machine."""

from lab.errors import ScenarioError

BACKENDS = ("docker", "netns")


def get_backend(name="docker", say=lambda msg: None):
    if name not in BACKENDS:
        raise ScenarioError(f"unknown backend {name!r} (available: {', '.join(BACKENDS)})")
    if name == "netns":
        from lab.backends.netns import NetnsBackend
        return NetnsBackend()  # builds nothing, so has nothing to say
    from lab.backends.docker import DockerBackend
    return DockerBackend(say=say)
