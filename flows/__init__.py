"""Prefect flows and schedules around the same functions `pixee-etl run` calls."""
