"""Reports of research runs: one self-contained HTML file per run."""

from neurath.report._html import reliability_svg, write_report

__all__ = ["reliability_svg", "write_report"]
