"""The rules: users, sessions, images, server setup. Plain functions, no globals."""
