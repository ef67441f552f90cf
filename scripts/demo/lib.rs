// Empty: this package exists only to fetch its dependency's sources.
