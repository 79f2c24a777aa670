"""Plotly figures and image helpers, one module per area. No Streamlit here."""
