"""HTTP layer: Flask blueprints that parse requests and format XNAT's answers."""
