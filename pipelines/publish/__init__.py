"""Publishing: the read-only serving file, the HTML report, and the run summary a sync prints."""
