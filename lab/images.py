"""Build the lab's images without a registry, tagged by a hash of their inputs.

- base: a Debian root file system made by mmdebstrap from `images/base/recipe.yaml`
  (packages come from this machine's own apt sources) and `docker import`-ed;
- host and capture: plain Dockerfiles in `images/<name>/` layered on base,
  needing no network.

A tag is `tcp-fault-lab/<name>:<hash>`, the hash covering every input (and the
base's tag for the layers on it), so a warm run finds every tag and builds
nothing; a changed input builds a new tag and removes the stale ones.
Each build also tags `:latest`, which `compose.yaml` uses when brought up by hand.
"""

import contextlib
import hashlib
import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
from pathlib import Path

import docker.errors
import yaml

from lab.errors import SetupError

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "images"
REPO = "tcp-fault-lab"
LAYERS = {  # image -> files copied into its build context besides the Dockerfile
    "host": [ROOT / "lab" / "sockops.py"],
    "capture": [],
}
APT_SOURCES = Path("/etc/apt")


def digest(*parts):
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def apt_mirrors(suite, apt_dir=APT_SOURCES):
    """Source lines for `suite` (and its -updates/-security) from apt's own config.

    `LAB_DEBIAN_MIRROR` overrides them with one URI.
    """
    if os.environ.get("LAB_DEBIAN_MIRROR"):
        return [f"deb {os.environ['LAB_DEBIAN_MIRROR']} {suite} main"]
    wanted = {suite, f"{suite}-updates", f"{suite}-security"}
    lines = []
    for path in [apt_dir / "sources.list", *sorted(apt_dir.glob("sources.list.d/*"))]:
        if not path.is_file():
            continue
        if path.suffix == ".sources":
            for stanza in path.read_text().split("\n\n"):
                fields = dict(
                    line.split(":", 1) for line in stanza.splitlines()
                    if ":" in line and not line.startswith(("#", " "))
                )
                uris = fields.get("URIs", "").split()
                for s in fields.get("Suites", "").split():
                    if s in wanted and "deb" in fields.get("Types", "").split():
                        lines += [f"deb {uri} {s} main" for uri in uris]
        else:
            for line in path.read_text().splitlines():
                words = line.split("#", 1)[0].split()
                if len(words) >= 3 and words[0] == "deb" and not words[1].startswith("["):
                    if words[2] in wanted:
                        lines.append(f"deb {words[1]} {words[2]} main")
    if not lines:
        raise SetupError(
            f"no apt source for Debian {suite} on this machine; "
            "set LAB_DEBIAN_MIRROR to a Debian mirror URI"
        )
    return lines


def base_tag():
    recipe = (IMAGES / "base" / "recipe.yaml").read_text()
    return f"{REPO}/base:{digest(recipe)}"


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


def run_to_end(argv):
    """subprocess.run for a build that must undo its work when interrupted.

    mmdebstrap, run as root, mounts /proc, /sys and /dev/pts in its chroot, and
    a SIGKILL leaves them mounted; its workers outlive a killed parent too. So
    on any exception (Ctrl-C) the whole process group gets SIGINT and time to
    clean up (about 4 s), then SIGKILL. (mmdebstrap ignores a signal to itself alone
    while its workers run, so there is no cleaning up after a lab killed by SIGKILL:
    the orphan finishes its build and unmounts.)
    """
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate()
    except BaseException:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def build_base(client, tag, say):
    recipe = yaml.safe_load((IMAGES / "base" / "recipe.yaml").read_text())
    if not shutil.which("mmdebstrap"):
        raise SetupError("mmdebstrap is missing: install it with `apt-get install mmdebstrap`")
    say(f"building {tag} with mmdebstrap (about 20 s, once)")
    with tempfile.TemporaryDirectory(prefix="tcp-fault-lab-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        argv = ["mmdebstrap", "--quiet", f"--variant={recipe['variant']}",
                "--include=" + ",".join(recipe["packages"]),
                recipe["suite"], str(rootfs), *apt_mirrors(recipe["suite"])]
        done = run_to_end(argv)
        if done.returncode != 0:
            raise SetupError(f"mmdebstrap failed: {done.stderr.strip().splitlines()[-1:]}")
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


def remove_stale(client, tag):
    """Drop older builds of the same image; keep this tag and `:latest`."""
    repo = tag.split(":")[0]
    for image in client.images.list(name=repo):
        if tag not in image.tags:
            for old in image.tags:
                try:
                    client.images.remove(old)
                except docker.errors.APIError:
                    pass  # still used by a container of a concurrent run: kept


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
            remove_stale(client, tag)
    return tags
