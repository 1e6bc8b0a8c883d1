"""Which login shells run a command taken from an environment variable with POSIX ``eval``.

Shared by the host-side router (``login.router``, for ``docker exec``) and the session
wrapper of the in-container sshd (:mod:`podspawn.inner_sshd`): both keep the user's command
line out of every argv the host's process list shows.
"""

#: Shells whose ``eval`` and ``unset`` are POSIX's. Another shell (fish, csh, nu...) gets
#: the command as its ``-c`` argument, as before, since its syntax for this differs.
POSIX_SHELLS = frozenset({
    "sh", "bash", "rbash", "dash", "ash", "busybox", "zsh", "ksh", "ksh93", "mksh", "lksh",
    "pdksh", "oksh", "loksh", "yash", "posh",
})
