"""The same scenario on Docker and on network namespaces, same kernel: the same outcomes.

Every step's outcome, every packet rule's pass or fail, every evidence link
and the verdict must be equal; a difference means one backend is not
faithful to what a host is (a stop that forgets to close sockets, a pause
that stops the kernel too, a capture that starts late)."""

import pytest

from lab import catalogue, runner, stability

pytestmark = pytest.mark.docker


@pytest.mark.parametrize("scenario", catalogue.scenarios(), ids=lambda s: s.name)
def test_docker_and_netns_agree(scenario, backend, netns_backend):
    on_docker = stability.outcomes_of(runner.run(scenario, backend))
    on_netns = stability.outcomes_of(runner.run(scenario, netns_backend))
    differences = {item: (on_docker.get(item), on_netns.get(item))
                   for item in on_docker.keys() | on_netns.keys() if on_docker.get(item) != on_netns.get(item)}
    assert not differences, f"docker vs netns: {differences}"
