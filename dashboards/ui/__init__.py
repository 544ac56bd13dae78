"""The Streamlit layer: resources, shared controls, page frame and small display helpers.

Page scripts (``dashboards/app/screens/*.py``) stay thin: they call the cached queries here and the
pure figure builders, and lay out the result.
"""
