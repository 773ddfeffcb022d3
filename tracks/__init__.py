"""Built-in track data (``*.track.toml``), installed as the package ``racer.tracks_data``.

Data only: racer reads these files with ``importlib.resources`` (see ``racer.track.loading``).
"""
