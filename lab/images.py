"""Build the lab's images without a registry, tagged by a hash of their inputs.

- base: the lab's Debian root file system (`lab.debian.bootstrap`, from
  `images/base/recipe.yaml` and this machine's own apt sources), `docker import`-ed;
  `base-java` and `base-node` are the same plus that runtime's Debian packages
  (lab.runtimes.IMAGE_PACKAGES), built only when a run needs them;
- capture: a plain Dockerfile in `images/capture/` layered on base;
- host, one per runtime image (`host` for python, `host-c`, `host-go`,
  `host-java`, `host-node`): `images/host/Dockerfile` over the right base with
  the agent lab.runtimes built on this machine. No build needs the network.

A tag is `tcp-fault-lab/<name>:<hash>`, the hash covering every input (and the
base's tag for the layers on it), so a warm run finds every tag and builds
nothing; a changed input builds a new tag. Older builds are kept: another
checkout of the lab (a branch, a CI job on the same engine) may be running
from them, and removing one under it fails its next container. They are
small layers over a shared base; `make distclean` removes them all.
Each build also tags `:latest`, which `compose.yaml` uses when brought up by hand.
"""

import io
import tarfile
from pathlib import Path

import docker.errors

from lab import debian, runtimes
from lab.cache import ROOT, cache_dir, digest, locked, scratch
from lab.errors import SetupError

IMAGES = ROOT / "images"
REPO = "tcp-fault-lab"


def base_tag(runtime_image=None):
    """The base's tag, or with runtime_image ("java", "node") the base plus that runtime's packages."""
    packages = runtimes.IMAGE_PACKAGES.get(runtime_image, ())
    name = f"base-{runtime_image}" if packages else "base"
    return f"{REPO}/{name}:{digest(debian.RECIPE.read_text(), *packages)}"


def host_image(runtime):
    return "host" if runtime.image == runtimes.DEFAULT else f"host-{runtime.image}"


def layer_tag(image, dockerfile, base, files=()):
    inputs = [(IMAGES / dockerfile / "Dockerfile").read_bytes()]
    inputs += [f.name.encode() + b"\0" + f.read_bytes() for f in files]
    return f"{REPO}/{image}:{digest(base, *inputs)}"


def exists(client, tag):
    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def build_base(client, tag, packages, say):
    say(f"building {tag} with mmdebstrap ({'about 20 s' if not packages else 'a minute'}, once)")
    with scratch("base") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        debian.bootstrap(rootfs, include=packages)
        repo, version = tag.split(":")
        client.api.import_image_from_file(str(rootfs), repository=repo, tag=version,
                                          changes=['CMD ["/bin/bash"]'])


def build_layer(client, dockerfile, tag, base, files, say, folder=""):
    say(f"building {tag}")
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        tar.add(IMAGES / dockerfile / "Dockerfile", arcname="Dockerfile")
        for f in files:
            tar.add(f, arcname=f"{folder}{f.name}")
    context.seek(0)
    try:
        client.images.build(fileobj=context, custom_context=True, tag=tag,
                            buildargs={"BASE": base}, rm=True, forcerm=True)
    except docker.errors.BuildError as exc:
        raise SetupError(f"building {tag} failed: {exc.msg}") from None


def ensure_base(client, runtime_image, say):
    tag = base_tag(runtime_image)
    if not exists(client, tag):
        build_base(client, tag, runtimes.IMAGE_PACKAGES.get(runtime_image, ()), say)
    return tag


def ensure(client, say=lambda msg: None, wanted=(runtimes.DEFAULT,)):
    """Return {"base": tag, "capture": tag, "host:<runtime>": tag for each wanted runtime},
    building what is missing; one process at a time (parallel pytest workers: one builds, the others
    wait and find it)."""
    with locked(cache_dir() / "images.lock"):
        return ensure_unlocked(client, say, wanted)


def ensure_unlocked(client, say, wanted):
    tags = {"base": ensure_base(client, None, say)}
    tags["capture"] = layer_tag("capture", "capture", tags["base"])
    if not exists(client, tags["capture"]):
        build_layer(client, "capture", tags["capture"], tags["base"], (), say)
    for name in wanted:
        runtime = runtimes.get(name)
        agent = sorted(runtimes.build(name).iterdir())
        base = ensure_base(client, runtime.image, say)
        tag = tags[f"host:{name}"] = layer_tag(host_image(runtime), "host", base, agent)
        if not exists(client, tag):
            build_layer(client, "host", tag, base, agent, say, folder="agent/")
    for tag in set(tags.values()):
        repo = tag.split(":")[0]
        if not exists(client, f"{repo}:latest") or \
                client.images.get(f"{repo}:latest").id != client.images.get(tag).id:
            client.images.get(tag).tag(repo, "latest")
    return tags
