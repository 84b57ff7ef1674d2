"""Small shared helpers: atomic files and format versions."""
