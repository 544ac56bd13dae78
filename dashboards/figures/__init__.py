"""Pure plotly figure builders: plain data in, ``go.Figure`` out (no Streamlit, no SQL)."""
