"""Read-only queries behind the pages: SQLAlchemy Core in, plain dataclasses and DataFrames out.

Every query reads the dashboard's rollups, ``sla_evaluations`` or an indexed slice of ``spans``;
none scans ``spans`` over a whole time range.
"""
