"""Constants shared by the generator tests and their fixtures.

A module of its own: ``from conftest import ...`` resolves to whichever folder's conftest
pytest loaded last when several test folders run together.
"""

S3_KEY = "AKIADKMEANSGENKEY0003"
S3_SECRET = "dkmeans-generate-secret-Hk2p9Qw7"
BUCKET = "dkmeans-generate-test"
