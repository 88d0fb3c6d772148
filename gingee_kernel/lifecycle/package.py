"""`.gin` packages: pack an app folder into one, and open one so that nothing unsafe is ever written.

A package is a zip of the app folder (paths relative to it, `box/app.json` included) plus
`.gingee-package.json`: the app's name and version, the permissions its pmft.json declares, and the size
and SHA-256 of every file. `sha256` is the content hash: the SHA-256 of the sorted `path NUL sha256` lines,
so the same files give the same hash whoever packs them, and one changed byte changes it.

`Package.open` checks a package before anything is extracted: a zip, paths that stay inside the app (no
`..`, no absolute or drive paths, no backslashes, no symlinks), file count and unpacked size within the
limits, a manifest that matches the schema and lists exactly the files the zip holds. `extract` then
writes each file while hashing it and stops at the first byte past its declared size (a zip bomb that lies
in its headers goes no further).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import IO, Any

from ..engine import manifest
from ..engine.loader import APP_NAME
from ..engine.sizes import parse_size
from ..errors import GingeeError, ManifestError
from . import rules

MANIFEST = ".gingee-package.json"
SUFFIX = ".gin"
_CHUNK = 1 << 16
#: A fixed timestamp for every entry: the same files give the same bytes (with the same `created`, which
#: SOURCE_DATE_EPOCH pins, as reproducible builds do).
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _created() -> str:
    """When the package was made: now, or $SOURCE_DATE_EPOCH (seconds since 1970) when set."""
    pinned = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    when = (
        datetime.fromtimestamp(int(pinned), timezone.utc) if pinned.isdigit() else datetime.now(timezone.utc)
    )
    return when.isoformat(timespec="seconds")


class PackageError(GingeeError):
    """A package (or an app folder to pack) that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class PackageLimits:
    """gingee.json `lifecycle`: the largest package, unpacked total and file count accepted."""

    max_package_bytes: int = 64 * 2**20
    max_unpacked_bytes: int = 512 * 2**20
    max_files: int = 10_000

    @classmethod
    def from_config(cls, server_config: dict[str, Any]) -> PackageLimits:
        section = server_config.get("lifecycle") or {}
        return cls(
            parse_size(section.get("max_package_size", "64MB")),
            parse_size(section.get("max_unpacked_size", "512MB")),
            int(section.get("max_files", 10_000)),
        )


def content_hash(files: dict[str, dict[str, Any]]) -> str:
    """The package's content hash: SHA-256 over the sorted `path NUL sha256 LF` lines."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(f"{rel}\0{files[rel]['sha256']}\n".encode())
    return digest.hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def app_files(app_dir: Path, *, include_data: bool) -> list[str]:
    """The relative POSIX paths `pack` puts in a package, sorted; a symlink in the app is refused."""
    box = app_dir / "box"
    gpkg = rules.read_rules(box / ".gpkg", "gpkg", f"{app_dir.name}/box/.gpkg")
    rules.check_patterns(gpkg, f"{app_dir.name}/box/.gpkg")
    found: list[str] = []
    for folder, dirs, names in os.walk(app_dir):
        base = Path(folder)
        for name in [*dirs, *names]:
            path = base / name
            rel = path.relative_to(app_dir).as_posix()
            # A symlink is refused unless it would be left out anyway (as the message suggests).
            excluded = not rules.packed(rel, {"exclude": gpkg.get("exclude")}, include_data=include_data)
            if path.is_symlink() and not excluded:
                raise PackageError(
                    f"{app_dir.name}/{rel} is a symlink; a package holds regular files only (copy the "
                    f"file in, or exclude it in box/.gpkg)"
                )
        dirs[:] = sorted(
            d for d in dirs if rules.packed((base / d).relative_to(app_dir).as_posix(), {}, include_data=True)
        )
        for name in names:
            rel = (base / name).relative_to(app_dir).as_posix()
            if rules.packed(rel, gpkg, include_data=include_data):
                found.append(rel)
    if MANIFEST in found:
        raise PackageError(f"{app_dir.name}/{MANIFEST} is the package manifest's name; rename that file")
    return sorted(found)


def read_app(app_dir: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """app.json and pmft.json (or None) of an app folder, validated."""
    box = app_dir / "box"
    config = manifest.load("app", box / "app.json", f"{app_dir.name}/box/app.json")
    pmft_path = box / "pmft.json"
    pmft = manifest.load("pmft", pmft_path, f"{app_dir.name}/box/pmft.json") if pmft_path.is_file() else None
    return config, pmft


def build_manifest(app_dir: Path, files: list[str], fallback_version: str | None = None) -> dict[str, Any]:
    """The `.gingee-package.json` of `files` of `app_dir` (hashing each one)."""
    from .. import __version__

    config, pmft = read_app(app_dir)
    version = config.get("version") or fallback_version
    if not version:
        raise ManifestError(
            f"{app_dir.name}/box/app.json", "/version", 'a version such as "1.0.0" (a package needs one)'
        )
    perms = (pmft or {}).get("permissions", {})
    listing = {
        rel: {"size": (app_dir / rel).stat().st_size, "sha256": _sha256_file(app_dir / rel)} for rel in files
    }
    return {
        "format": 1,
        "name": app_dir.name,
        "version": str(version),
        "created": _created(),
        "gingee": __version__,
        "includes_data": any(rules.matches(rel, (rules.DATA,)) for rel in files),
        "permissions": {
            "mandatory": sorted(perms.get("mandatory", [])),
            "optional": sorted(perms.get("optional", [])),
        },
        "files": listing,
        "sha256": content_hash(listing),
    }


def pack(
    app_dir: Path | str,
    out: Path | str | None = None,
    *,
    include_data: bool = False,
    fallback_version: str | None = None,
) -> Path:
    """Write `app_dir` as a package to `out` (default `<name>-<version>.gin` here); returns its path.

    `box/data/` goes in only with `include_data`; `box/.gpkg` narrows what else does. An app.json without
    a version is refused unless `fallback_version` is given (backups of unversioned apps)."""
    app_dir = Path(app_dir).resolve()
    if not (app_dir / "box" / "app.json").is_file():
        raise PackageError(f"{app_dir} is not an app folder (no box/app.json)")
    if not APP_NAME.match(app_dir.name):
        raise PackageError(f"'{app_dir.name}' is not an app name: use letters, digits, '_' and '-'")
    files = app_files(app_dir, include_data=include_data)
    document = build_manifest(app_dir, files, fallback_version)
    default = f"{document['name']}-{document['version']}{SUFFIX}"
    target = Path(out) if out is not None else Path.cwd() / default
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
            _add(archive, MANIFEST, json.dumps(document, indent=2, sort_keys=True).encode())
            for rel in files:
                _add(archive, rel, (app_dir / rel).read_bytes())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    archive.writestr(info, data)


def _unsafe_name(name: str) -> str | None:
    """Why a zip entry name may not be written inside an app folder, or None if it may."""
    if not name or "\0" in name:
        return "an empty name or one with a NUL byte"
    if "\\" in name:
        return "a backslash (a Windows path)"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    parts = PurePosixPath(name.rstrip("/")).parts
    if any(p in ("..", ".") for p in name.rstrip("/").split("/")) or not parts:
        return "a '..' or '.' segment (zip-slip)"
    if any(c < " " for c in name):
        return "a control character"
    return None


class Package:
    """An opened, checked package. `name`, `version`, `permissions`, `files` and `sha256` come from its
    manifest; `extract(folder)` writes its files there, verifying each one's hash and size."""

    def __init__(self, archive: zipfile.ZipFile, document: dict[str, Any], limits: PackageLimits) -> None:
        self._zip = archive
        self.manifest = document
        self.limits = limits
        self.name: str = document["name"]
        self.version: str = document["version"]
        self.files: dict[str, dict[str, Any]] = document["files"]
        self.sha256: str = document["sha256"]
        perms = document["permissions"]
        self.declared: set[str] = set(perms.get("mandatory", [])) | set(perms.get("optional", []))

    @classmethod
    def open(
        cls, source: Path | str | bytes, limits: PackageLimits | None = None, *, label: str | None = None
    ) -> Package:
        """Open and check a package (a path or its bytes); raises PackageError naming the problem."""
        limits = limits or PackageLimits()
        label = label or (str(source) if not isinstance(source, bytes) else "the package")
        size = len(source) if isinstance(source, bytes) else _file_size(Path(source), label)
        if size > limits.max_package_bytes:
            raise PackageError(
                f"{label} is {size} bytes; the limit is {limits.max_package_bytes} (gingee.json "
                f"lifecycle.max_package_size)"
            )
        try:
            data = source if isinstance(source, bytes) else Path(source).read_bytes()
        except OSError as exc:  # a folder, or unreadable
            raise PackageError(f"cannot read {label}: {exc.strerror}") from None
        stream: IO[bytes] = io.BytesIO(data)
        try:
            archive = zipfile.ZipFile(stream)
        except (zipfile.BadZipFile, OSError) as exc:
            raise PackageError(f"{label} is not a .gin package (a zip file): {exc}") from None
        try:
            document = _check_entries(archive, limits, label)
        except BaseException:
            archive.close()
            raise
        return cls(archive, document, limits)

    def expect_name(self, name: str) -> None:
        """Refuse a package made for another app."""
        if self.name != name:
            raise PackageError(f"this package is for app '{self.name}', not '{name}'")

    def read(self, rel: str) -> bytes:
        """One file's bytes, verified (small files such as box/app.json)."""
        sink = io.BytesIO()
        self._copy(rel, sink.write)
        return sink.getvalue()

    def verify(self) -> None:
        """Read every file, checking its size and hash, writing nothing."""
        for rel in self.files:
            self._copy(rel, lambda _chunk: None)

    def extract(self, folder: Path) -> None:
        """Write every file under `folder` (which must be new and empty), verifying as it goes."""
        for rel in sorted(self.files):
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("xb") as out:
                self._copy(rel, out.write)
                out.flush()
                os.fsync(out.fileno())

    def _copy(self, rel: str, write: Callable[[bytes], Any]) -> None:
        info = self.files[rel]
        digest = hashlib.sha256()
        seen = 0
        try:
            with self._zip.open(rel) as entry:
                while chunk := entry.read(_CHUNK):
                    seen += len(chunk)
                    if seen > info["size"]:
                        raise PackageError(
                            f"{rel} unpacks to more than the {info['size']} bytes the package declares "
                            "(a zip bomb?)"
                        )
                    digest.update(chunk)
                    write(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            # A CRC that does not match, a header that lies about the size, truncated deflate data.
            raise PackageError(f"{rel} cannot be unpacked (damaged or altered): {exc}") from None
        if seen != info["size"] or digest.hexdigest() != info["sha256"]:
            raise PackageError(
                f"{rel} does not match the package manifest's size and SHA-256 (damaged or altered)"
            )

    def app_config(self) -> dict[str, Any]:
        """The package's box/app.json, validated; its version must be the manifest's."""
        label = f"{self.name}.gin: box/app.json"
        try:
            document = json.loads(self.read("box/app.json"))
        except json.JSONDecodeError as exc:
            raise ManifestError(label, "", f"valid JSON ({exc.msg} at line {exc.lineno})") from None
        manifest.validate("app", document, label)
        # A backup of an app whose app.json has no version is packed with the fallback version "0".
        if document.get("version") is not None and str(document["version"]) != self.version:
            raise ManifestError(label, "/version", f'"{self.version}", the version in the package manifest')
        return dict(document)

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> Package:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _file_size(path: Path, label: str) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise PackageError(f"cannot read {label}: {exc.strerror}") from None


def _check_entries(archive: zipfile.ZipFile, limits: PackageLimits, label: str) -> dict[str, Any]:
    """Check every entry's name, kind and size and the manifest; return the manifest."""
    infos = archive.infolist()
    if len(infos) > limits.max_files + 1:
        raise PackageError(
            f"{label} holds {len(infos)} entries; the limit is {limits.max_files} files (gingee.json "
            f"lifecycle.max_files)"
        )
    names: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        why = _unsafe_name(info.filename)
        if why:
            raise PackageError(f"{label}: entry {info.filename!r} has {why}; refused")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise PackageError(
                f"{label}: entry {info.filename!r} is a symlink; a package holds regular files only"
            )
        if info.flag_bits & 0x1:
            raise PackageError(f"{label}: entry {info.filename!r} is encrypted; refused")
        if info.is_dir():
            continue
        if info.filename in names:
            raise PackageError(f"{label}: entry {info.filename!r} appears twice; refused")
        names[info.filename] = info
        total += info.file_size
        if total > limits.max_unpacked_bytes:
            raise PackageError(
                f"{label} unpacks to more than {limits.max_unpacked_bytes} bytes (gingee.json "
                f"lifecycle.max_unpacked_size); refused"
            )
    if MANIFEST not in names:
        raise PackageError(f"{label} has no {MANIFEST}: make packages with `gingee pack` or app.pack()")
    if names[MANIFEST].file_size > 16 * 2**20:
        raise PackageError(f"{label}: {MANIFEST} is too large")
    where = f"{label}: {MANIFEST}"
    try:
        document = json.loads(archive.read(MANIFEST))
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise PackageError(f"{where} cannot be unpacked (damaged or altered): {exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(where, "", f"valid JSON ({exc})") from None
    manifest.validate("package", document, where)
    manifest.validate("pmft", {"permissions": document["permissions"]}, where)
    listed = set(document["files"])
    present = set(names) - {MANIFEST}
    if listed != present:
        extra, missing = sorted(present - listed), sorted(listed - present)
        detail = "; ".join(
            part
            for part in (
                f"not listed: {', '.join(extra[:5])}" if extra else "",
                f"missing: {', '.join(missing[:5])}" if missing else "",
            )
            if part
        )
        raise ManifestError(where, "/files", f"the files the zip holds ({detail})")
    for rel, info in names.items():
        if rel != MANIFEST and info.file_size != document["files"][rel]["size"]:
            raise ManifestError(
                where, f"/files/{rel.replace('/', '~1')}/size", f"{info.file_size}, the size in the zip"
            )
    if "box/app.json" not in listed:
        raise ManifestError(where, "/files", "a box/app.json (every app has one)")
    if content_hash(document["files"]) != document["sha256"]:
        raise ManifestError(where, "/sha256", "the content hash of the files it lists")
    return dict(document)
