"""Everything that reads or writes the project's files and run folders."""
