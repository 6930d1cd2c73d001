"""Build the lab's images without a registry, tagged by a hash of their inputs.

- base: the lab's Debian root file system (`lab.debian.bootstrap`, from
  `images/base/recipe.yaml` and this machine's own apt sources), `docker import`-ed;
- host and capture: plain Dockerfiles in `images/<name>/` layered on base,
  needing no network.

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

from lab import debian
from lab.cache import ROOT, digest, scratch
from lab.errors import SetupError

IMAGES = ROOT / "images"
REPO = "tcp-fault-lab"
LAYERS = {  # image -> files copied into its build context besides the Dockerfile
    "host": [ROOT / "lab" / "sockops.py"],
    "capture": [],
}


def base_tag():
    return f"{REPO}/base:{digest(debian.RECIPE.read_text())}"


def layer_tag(name, base):
    inputs = [(IMAGES / name / "Dockerfile").read_bytes()]
    inputs += [f.read_bytes() for f in LAYERS[name]]
    return f"{REPO}/{name}:{digest(base, *inputs)}"


def exists(client, tag):
    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def build_base(client, tag, say):
    say(f"building {tag} with mmdebstrap (about 20 s, once)")
    with scratch("base") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        debian.bootstrap(rootfs)
        repo, version = tag.split(":")
        client.api.import_image_from_file(str(rootfs), repository=repo, tag=version,
                                          changes=['CMD ["/bin/bash"]'])


def build_layer(client, name, tag, base, say):
    say(f"building {tag}")
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        tar.add(IMAGES / name / "Dockerfile", arcname="Dockerfile")
        for f in LAYERS[name]:
            tar.add(f, arcname=f.name)
    context.seek(0)
    try:
        client.images.build(fileobj=context, custom_context=True, tag=tag,
                            buildargs={"BASE": base}, rm=True, forcerm=True)
    except docker.errors.BuildError as exc:
        raise SetupError(f"building {tag} failed: {exc.msg}") from None


def ensure(client, say=lambda msg: None):
    """Return {"base": tag, "host": tag, "capture": tag}, building what is missing."""
    tags = {"base": base_tag()}
    if not exists(client, tags["base"]):
        build_base(client, tags["base"], say)
    for name in LAYERS:
        tags[name] = layer_tag(name, tags["base"])
        if not exists(client, tags[name]):
            build_layer(client, name, tags[name], tags["base"], say)
    for tag in tags.values():
        repo = tag.split(":")[0]
        if not exists(client, f"{repo}:latest") or \
                client.images.get(f"{repo}:latest").id != client.images.get(tag).id:
            client.images.get(tag).tag(repo, "latest")
    return tags
