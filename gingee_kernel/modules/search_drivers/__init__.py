"""The search module's drivers: sqlite (FTS5, the default), postgres, elasticsearch and opensearch."""
