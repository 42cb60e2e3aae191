"""Reports of research runs: one self-contained HTML file per run, made from its folder."""

from neurath.report._html import reliability_svg, render_report, write_report

__all__ = ["reliability_svg", "render_report", "write_report"]
