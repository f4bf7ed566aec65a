"""One module per benchmark case."""
