"""ClassPulse's database: models, migrations, the consumer's write API, analyst views.

Import what you need from the submodules (``classpulse.db.engine``, ``classpulse.db.writes``,
``classpulse.db.migrate``, ``classpulse.db.views``); this package stays light to import.
"""
