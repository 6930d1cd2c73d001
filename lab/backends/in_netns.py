"""What the netns backend does inside a network namespace without starting a program there.

A program started for a one-line job costs about 50 ms in a VM under TCG
(`ip`, `nsenter`, `sysctl`: 44-61 ms each on 6.1, 2026-11-29), and a run of
the catalogue started some thirty. So the lab asks the kernel itself where it
can: a thread of the lab joins the namespace (setns is per thread; the lab's
other threads stay where they are) to set its sysctls or send the capture's
fence; a namespace's processes are found by reading /proc as `ip netns pids`
reads it; and a namespace's `ip` commands go to one `ip -batch` process.
"""

import ctypes
import os
import socket
import threading
from pathlib import Path

from lab.errors import SetupError

CLONE_NEWNET = 0x40000000  # linux/sched.h
NETNS_DIR = Path("/run/netns")


def joined(netns, job):
    """job() in a thread of the lab joined to the namespace NETNS_DIR/netns: its result, or what it raised
    (OSError when the namespace cannot be joined) raised here."""
    outcome = {}

    def in_namespace():
        try:
            with open(NETNS_DIR / netns) as ns:
                if ctypes.CDLL(None, use_errno=True).setns(ns.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"cannot join {netns}: {os.strerror(ctypes.get_errno())}")
            outcome["result"] = job()
        except BaseException as exc:  # raised again in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=in_namespace)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def set_sysctls(netns, values):
    """Write each `net.…` setting (dotted, as sysctl names it) under /proc/sys, which shows the writer's namespace."""
    def write():
        for key, value in values.items():
            try:
                Path("/proc/sys", *key.split(".")).write_text(f"{value}\n")
            except OSError as exc:
                raise SetupError(f"cannot set {key}={value} in {netns}: {exc.strerror}") from None
    joined(netns, write)


def send_to_itself(netns, payload):
    """Send eth0's own MAC address a frame of `payload` (ethertype and data); False when eth0 or the namespace is gone."""
    def send():
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
            sock.bind(("eth0", 0))
            mac = sock.getsockname()[4]
            return sock.send(mac + mac + payload) > 0
    try:
        return joined(netns, send)
    except OSError:
        return False


def pids_in(netns):
    """The processes whose network namespace is this one (the namespace's inode against each /proc/PID/ns/net)."""
    try:
        want = os.stat(NETNS_DIR / netns)
    except FileNotFoundError:
        return []
    found = []
    for entry in os.scandir("/proc"):
        try:
            st = os.stat(f"/proc/{entry.name}/ns/net") if entry.name.isdigit() else None
        except OSError:
            continue  # exited meanwhile
        if st and (st.st_dev, st.st_ino) == (want.st_dev, want.st_ino):
            found.append(int(entry.name))
    return found
