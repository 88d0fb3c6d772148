"""The `storage` module's drivers: local (the embedded default) and s3, behind one small interface."""
