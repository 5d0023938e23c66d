-- The second XNAT (the copy target) has its own database in the same PostgreSQL server.
CREATE DATABASE xnat_remote OWNER xnat;
