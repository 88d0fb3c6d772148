"""The zip module's errors, built in one place: each names the archive entry at fault (as the archive
spells it, cut short if it is long) and never a server path."""

from __future__ import annotations

from ..content.errors import ContentError, ContentTooLarge

MODULE = "zip"


def shown(name: str) -> str:
    """An entry name fit for a message: quoted, and cut at 120 characters."""
    return repr(name if len(name) <= 120 else name[:120] + "...")


def unsafe(name: str, reason: str) -> ContentError:
    """UNSAFE_ENTRY: an entry that may not be written (or packed) where it asks to be."""
    return ContentError(MODULE, "UNSAFE_ENTRY", f"entry {shown(name)} {reason}; nothing was written")


def invalid(reason: str) -> ContentError:
    """INVALID_ARCHIVE: data that is not a readable ZIP archive."""
    return ContentError(MODULE, "INVALID_ARCHIVE", f"{reason}; nothing was written")


def too_large(reason: str, key: str) -> ContentTooLarge:
    """ARCHIVE_TOO_LARGE: over one of the limits; `key` names its app.json setting (zip.<key>)."""
    return ContentTooLarge(MODULE, "ARCHIVE_TOO_LARGE", f"{reason} (app.json zip.{key}); nothing was written")


def os_error(exc: OSError, where: str) -> OSError:
    """`exc` again, with the scope-relative `where` in place of the server path it carried."""
    cls: type[OSError] = type(exc) if type(exc).__module__ == "builtins" else OSError
    return cls(exc.errno, exc.strerror or "the operation failed", where)
