#!/usr/bin/env bash
# Turns on logical decoding in the local PostgreSQL (wal_level = logical), which the
# 'postgres-cdc' source needs (connectors/src/postgres.rs, its tests). Idempotent: does
# nothing when `SHOW wal_level` already says logical. Otherwise sets it with ALTER SYSTEM
# and restarts the cluster (the setting only takes effect at server start), then waits
# until the server answers again. Needs a superuser connection (trust auth as postgres on
# 127.0.0.1:5432 here) and, for the restart, root or the postgres user.
set -euo pipefail

PSQL=(psql -h "${PGHOST:-127.0.0.1}" -p "${PGPORT:-5432}" -U "${PGUSER:-postgres}" -d "${PGDATABASE:-test}" -X -A -t -q)

if ! command -v psql >/dev/null 2>&1; then
  echo "postgres-logical: psql not found; the postgres-cdc tests will fail to create slots" >&2
  exit 0
fi
level=$("${PSQL[@]}" -c 'SHOW wal_level' 2>/dev/null || true)
if [ -z "$level" ]; then
  echo "postgres-logical: PostgreSQL does not answer on ${PGHOST:-127.0.0.1}:${PGPORT:-5432}; leaving wal_level alone" >&2
  exit 0
fi
if [ "$level" = logical ]; then
  exit 0
fi
echo "postgres-logical: wal_level is '$level'; setting it to 'logical' and restarting PostgreSQL"
"${PSQL[@]}" -c 'ALTER SYSTEM SET wal_level = logical'
restarted=false
if command -v pg_ctlcluster >/dev/null 2>&1 && command -v pg_lsclusters >/dev/null 2>&1; then
  # The cluster listening on our port (Debian: "15 main 5432 online ...").
  cluster=$(pg_lsclusters -h | awk -v port="${PGPORT:-5432}" '$3 == port { print $1, $2; exit }')
  if [ -n "$cluster" ]; then
    # shellcheck disable=SC2086
    pg_ctlcluster --skip-systemctl-redirect $cluster restart && restarted=true
  fi
fi
if [ "$restarted" = false ] && command -v service >/dev/null 2>&1; then
  service postgresql restart && restarted=true
fi
if [ "$restarted" = false ]; then
  echo "postgres-logical: could not restart PostgreSQL; restart it by hand for wal_level = logical" >&2
  exit 1
fi
for _ in $(seq 1 60); do
  level=$("${PSQL[@]}" -c 'SHOW wal_level' 2>/dev/null || true)
  if [ "$level" = logical ]; then
    echo "postgres-logical: wal_level = logical"
    exit 0
  fi
  sleep 0.5
done
echo "postgres-logical: after the restart wal_level is '${level:-unknown}', not 'logical'" >&2
exit 1
