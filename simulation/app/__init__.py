"""The what-if web app (Streamlit): ``sufficiency app``.

``main.py`` is the page (run by Streamlit, never imported by the library); ``levers.py`` holds
the pure functions behind it. Streamlit was chosen because the STARS / PenCHORD simulation apps
this tool follows use it, it needs no JavaScript or templates, it binds to one address, and it
ships a headless test harness (``streamlit.testing.v1.AppTest``).
"""
