"""The click command line. Commands parse, call one service function, and render."""
