"""Reference helpers shared by several test folders."""
