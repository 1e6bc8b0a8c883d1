"""podspawn: SSH into a container of your own, on a server running stock OpenSSH."""

__version__ = "0.1.0"
