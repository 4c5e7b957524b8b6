"""The API side: the HTTP client and its layers, the rate limit, paging, deadlines, TLS, redaction."""
