"""The login path: ``auth-keys`` and ``spawn``, run by sshd on every connection.

An entry point, like ``cli``: nothing below it imports from here (``tests/unit/
test_import_graph.py``). What it shares with the services lives beneath both: the key
file format and forced command (``authorized_keys``), server paths (``paths``), the
in-container sshd (``inner_sshd``), the notice signal (``state.notices``).

Only the standard library plus ``podspawn.config.cached``, ``state``, ``names``, ``errors``,
``procs``, ``locks``, ``paths`` and a backend's login module (``runtime.docker_login``) may be
imported at module level here; everything heavier is imported inside the cold-path function
that needs it. ``tests/unit/test_login_imports.py`` guards this.
"""
