-- tls_cache holds what the ACME client keeps between runs (autocert.Cache):
-- the ACME account key, and each domain's private key and certificate chain
-- (PEM). Keeping them in the database means a copy of the file carries
-- them, so a restored server does not ask the CA again (and does not meet
-- its rate limits). They are secrets: so is the file.
CREATE TABLE tls_cache (
    name       TEXT    NOT NULL PRIMARY KEY,
    data       BLOB    NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
