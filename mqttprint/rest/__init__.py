"""The OctoPrint-compatible REST shim.

Only `app.py` imports Flask and only `server.py` imports waitress. Everything else here is plain
Python: route tables (`api_*.py`) whose handlers take a `routing.Call` and return a
`routing.Reply`, OctoPrint's JSON shapes (`shapes.py`), request validation (`validation.py`),
authentication (`auth.py`), the app-keys store (`appkeys.py`) and temperature history
(`history.py`). Each endpoint group is an `api_*.py` module (printer, control, server, app keys,
job, files, system commands) listed in `app.ROUTE_TABLES`.
"""
