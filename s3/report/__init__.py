"""`s3 report`: experiment tables (the paper's Table 3 layout) from local runs or W&B."""

from s3.report.paper import TABLE3_PRESETS, load_paper_table3

__all__ = ["TABLE3_PRESETS", "load_paper_table3"]
