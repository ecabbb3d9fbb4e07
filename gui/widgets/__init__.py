"""One view per file; each gets what it draws from the controller and never trains."""
