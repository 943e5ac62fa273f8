-- The database and its owner, once, as PostgreSQL's superuser:
--   runuser -u postgres -- psql -v ON_ERROR_STOP=1 -f deploy/postgresql/maestro.sql
--   runuser -u postgres -- psql -c '\password maestro'     (the password of DATABASE_URL)
-- Then, as the app's user: .venv/bin/flask db upgrade. The migrations create what they need
-- (pg_trgm for graph search is a trusted extension: the database owner may create it).
CREATE ROLE maestro LOGIN;
CREATE DATABASE maestro OWNER maestro ENCODING 'UTF8' TEMPLATE template0;
-- A request holds a transaction for milliseconds; one left open by a killed worker must not hold
-- row locks (a share link's view counter) for long.
ALTER ROLE maestro SET idle_in_transaction_session_timeout = '60s';
