"""Reporting: the paper's published tables and their specs (:mod:`.published`, numbers in ``paper/``),
the CSV, Markdown and LaTeX writers and the report folders (:mod:`.report`), and the figures
(:mod:`.figures`)."""
