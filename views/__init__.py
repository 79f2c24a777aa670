"""The pages: one thin file each (widgets -> core -> figures), listed in core/teaching/pages.py and run by
st.navigation in app.py. A package only so that import-linter can check the layers (views -> ui -> core)."""
