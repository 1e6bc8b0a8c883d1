"""Local mode: a checkout's Podfile run on the invoking user's own Docker, without sshd.

The same image (the tag ``add-project`` computes), the same session contract
(``Runtime.start_session``) and the same state schema as a server, kept in ``~/.podspawn``
instead of ``/var/lib/podspawn``; nothing here needs root.
"""
