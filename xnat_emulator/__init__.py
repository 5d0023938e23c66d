"""A stand-in XNAT 1.8/1.9 for tests and demos: the REST API over real HTTP.

The product (``xnat_container``) never imports this package.
"""

__version__ = "0.1.0"
