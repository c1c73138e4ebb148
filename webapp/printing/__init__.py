"""Printed credentials: slips with temporary passwords, parent letters, and the print flow.

render.py turns HTML into PDF (parallel for large documents, static files only); slips.py
and letters.py lay out what goes on paper; flow.py finishes awaiting_print batches;
pending.py keeps large PDFs encrypted until the person who asked downloads them.
"""
