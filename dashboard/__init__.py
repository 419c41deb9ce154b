"""The Streamlit teacher dashboard: class-level emotion and engagement trends, never a child's.

``dashboard/app.py`` is the page (run by ``classpulse dashboard``); ``sql`` and ``queries`` read the
database, ``transform`` and ``charts`` turn buckets into what is drawn, ``text`` holds the words.
"""
