"""The login path: ``auth-keys`` and ``spawn``, run by sshd on every connection.

Only the standard library plus ``podspawn.config.cached``, ``state``, ``names``, ``errors``,
``procs``, ``locks`` and ``runtime.docker_login`` may be imported at module level here; everything
heavier is imported inside the cold-path function that needs it. ``tests/unit`` guards this.
"""
