"""The storage module's errors, in Gingee's tree. Each says what to do next.

GingeeError
└── StorageError              an object call failed; a put that failed left nothing under the key
    ├── InvalidKey            the key breaks the key rules (docs/storage.md); ValueError too
    ├── ObjectNotFound        no object under the key; KeyError too
    ├── KeyConflict           (local) a key and the folder of another key collide (`a` and `a/b`)
    ├── ObjectTooLarge        the data is over the store's max_object_size
    └── StorageUnavailable    the provider could not be reached or failed; also ServiceUnavailable
"""

from __future__ import annotations

from ...errors import GingeeError, ServiceUnavailable


class StorageError(GingeeError):
    """An object call failed. `store` names the store; a failed put left nothing under the key."""

    def __init__(self, message: str, *, store: str = "") -> None:
        self.store = store
        super().__init__(message)


class InvalidKey(StorageError, ValueError):
    """The key breaks the key rules (docs/storage.md); `key` is what was given."""

    def __init__(self, key: object, problem: str) -> None:
        self.key = key
        super().__init__(f"storage: key {key!r}: {problem}")


class ObjectNotFound(StorageError, KeyError):
    """No object is stored under `key` in `store`."""

    def __init__(self, key: str, *, store: str) -> None:
        self.key = key
        super().__init__(f"storage: no object {key!r} in store {store!r}", store=store)

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class KeyConflict(StorageError):
    """On the local driver a key cannot be both an object and the folder of another key."""


class ObjectTooLarge(StorageError):
    """The data is larger than the store's `max_object_size`; nothing was stored."""

    def __init__(self, limit: int, *, store: str) -> None:
        self.limit = limit
        super().__init__(
            f"storage: the object is larger than store {store!r} allows ({limit} bytes, the store's "
            f"max_object_size in app.json storage[] or the gingee.json storage defaults); nothing was stored",
            store=store,
        )


class StorageUnavailable(StorageError, ServiceUnavailable):
    """The provider could not be reached, refused the credentials or failed; nothing was stored."""
