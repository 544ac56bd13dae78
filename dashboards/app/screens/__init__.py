"""Page scripts run by ``st.navigation``; each is a thin layout over queries and figures.

(Not named ``pages/``: next to the main script that name switches on Streamlit's older
file-based navigation.)
"""
