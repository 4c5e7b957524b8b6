"""Transformation: the dbt project in sql/ run in-process (the marts), the data checks, the marts docs."""
