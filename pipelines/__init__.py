"""pixee-etl's connector: HTTP client, pagination, the dlt source, and the commands around them."""

import os

# AppSec data stays in-house: dlt's anonymous usage telemetry is off unless a team turns it on
# (RUNTIME__DLTHUB_TELEMETRY=true). Set before dlt is imported anywhere in the package.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
