"""Cache backends: memory (in-process LRU) and redis."""
