"""devcontainer Features: references, metadata, options, install order, lockfile and the
image layers, as the containers.dev Features spec describes them. Pure code; fetching and
the policy live in :mod:`podspawn.services.features` and :mod:`podspawn.services.feature_fetch`.
"""
