"""``import-nifti``: NIFTI files (a folder, zip or tar.gz; flat or a BIDS tree) into XNAT."""
