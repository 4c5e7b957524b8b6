"""pixee-etl's connector: HTTP client, pagination, the dlt source, and the commands around them."""
