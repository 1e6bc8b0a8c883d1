"""Server configuration: the schema (stdlib), the validating loader and the login-path cache."""
