// Empty: this package exists only so that cargo fetches its dependencies' sources.
