-- A read-only role for Grafana's Postgres data source (compose: run once by the postgres image's
-- docker-entrypoint-initdb.d). Grafana runs whatever SQL a dashboard editor types, so it gets SELECT
-- only (pg_read_all_data, Postgres 14+), never the service's own role. Change the password in production.
CREATE ROLE grafana LOGIN PASSWORD 'grafana';
GRANT pg_read_all_data TO grafana;
