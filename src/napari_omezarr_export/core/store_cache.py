"""A zarr store that serves metadata documents from a read session's cache.

The reader fetches every node's metadata concurrently (`core.stores.fetch_many`) before it opens
the arrays; without this wrapper zarr would fetch each ``.zarray``/``zarr.json`` again, one
request at a time. zarr's own ``CacheStore`` is experimental and caches chunks as well, which a
reader of terabyte images must not do; this wrapper only answers for documents already read.
"""

from __future__ import annotations

from typing import Any

from zarr.storage import WrapperStore

__all__ = ["METADATA_NAMES", "MetadataCachedStore"]

METADATA_NAMES = frozenset({"zarr.json", ".zarray", ".zattrs", ".zgroup"})


class MetadataCachedStore(WrapperStore):
    """Answer metadata ``get`` calls from ``documents``; pass everything else to ``store``.

    Parameters
    ----------
    store : zarr.abc.store.Store
        The store to wrap (read-only).
    root : str
        The URL of the store's root; ``documents`` are keyed ``f"{root}/{key}"``.
    documents : dict of str to bytes or None
        Documents already read (None: known not to exist).
    """

    def __init__(self, store: Any, root: str, documents: dict[str, bytes | None]) -> None:
        super().__init__(store)
        self._root = root.rstrip("/")
        self._documents = documents

    def _with_store(self, store: Any) -> MetadataCachedStore:
        return type(self)(store, self._root, self._documents)

    async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
        """Return a cached metadata document, or read ``key`` from the wrapped store."""
        if byte_range is None and key.rsplit("/", 1)[-1] in METADATA_NAMES:
            url = f"{self._root}/{key}"
            if url in self._documents:
                document = self._documents[url]
                return None if document is None else prototype.buffer.from_bytes(document)
        return await self._store.get(key, prototype, byte_range)

    async def exists(self, key: str) -> bool:
        """Answer from the cache for known metadata documents."""
        url = f"{self._root}/{key}"
        if key.rsplit("/", 1)[-1] in METADATA_NAMES and url in self._documents:
            return self._documents[url] is not None
        return await self._store.exists(key)
