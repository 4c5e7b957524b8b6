"""`pixee-etl report`: one self-contained HTML page of tiles and charts, read from the marts."""

from pipelines.publish.html_report.build import ReportResult, build_report, report_from_pipeline, write_report

__all__ = ["ReportResult", "build_report", "report_from_pipeline", "write_report"]
