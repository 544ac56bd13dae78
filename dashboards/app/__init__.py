"""The Streamlit scripts: ``main.py`` (what ``streamlit run`` starts) and one script per page."""
