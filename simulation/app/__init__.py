"""The what-if web app (Streamlit): ``sufficiency app``.

``main.py`` is the page (run by Streamlit, never imported by the library), with ``editor.py``
(a variant's lever widgets), ``results.py`` (the results and downloads) and ``about.py`` (the
method page); ``levers.py`` (lever edits), ``strategies.py`` (the strategies, their tables and
their commented YAML) and ``charts.py`` (plotly figures) are plain functions that tests call
without a browser; ``workers.py`` keeps a browser session's worker processes.

Streamlit was chosen because the STARS / PenCHORD simulation apps this tool follows use it, it
needs no JavaScript or templates, it binds to one address, and it ships a headless test harness
(``streamlit.testing.v1.AppTest``).
"""
