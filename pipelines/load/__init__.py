"""Loading: the dlt destination, the lock, history, deletions, refresh copies, a full disk said plainly."""
