"""The field app (Textual): presentation only. Screens call `vipterm.services`; see `app.py`."""
