"""The client side of ``ssh sarah@api.pod``: everything that runs on the user's own machine.

    paths.py       where the client's files live (~/.podspawn, ~/.ssh/config)
    config.py      ~/.podspawn/config.yaml: which server answers for which NAME.pod
    rules.py       the rules of its values, shared by config.py and schema.py
    schema.py      the pydantic models behind config.py (imported only to report errors)
    ssh_config.py  podspawn's ``Host *.pod`` block in ~/.ssh/config
    connect.py     ``podspawn connect``, the ProxyCommand: host key, then the tunnel
    probe.py       parallel TCP reachability checks for ``podspawn servers``
    launch.py      argv for ``podspawn ssh`` and ``podspawn open``

``connect`` runs on every ``ssh NAME.pod``, so nothing here imports rich, and pydantic only
when a config file needs its errors explained.
"""
