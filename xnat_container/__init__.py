"""xnat-container: copy XNAT projects between servers and import NIFTI into XNAT."""

__version__ = "0.1.0"
