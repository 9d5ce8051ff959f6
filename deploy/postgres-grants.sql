-- pg-static-cache: what the app, bridge and worker roles need on one watched table, and nothing more.
-- Run it once per watched table, as the table's owner (or a superuser), with psql variables:
--   psql "$DATABASE_URL" -v schema=public -v table=countries \
--     -v app=psc_app -v bridge=psc_bridge -v worker=psc_worker -f deploy/postgres-grants.sql
-- The roles exist beforehand (CREATE ROLE psc_app LOGIN PASSWORD '…') with no other grants.
-- LISTEN, NOTIFY, advisory locks, pg_current_wal_lsn() and the catalogs need no grant.
-- Every bridge of one namespace logs in as the same role: a standby may then end a frozen
-- leader's session with pg_terminate_backend without being a member of pg_signal_backend.
GRANT USAGE ON SCHEMA :"schema" TO :"app", :"bridge", :"worker";
GRANT SELECT ON TABLE :"schema".:"table" TO :"app", :"bridge", :"worker";
