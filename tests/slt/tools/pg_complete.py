#!/usr/bin/env python3
"""Complete Laaster's sqllogictest sources with results computed by PostgreSQL.

Usage
-----
    # once: pip install "psycopg[binary]"     (psycopg 3; preferred)
    #       otherwise the script falls back to the `psql` binary (no type checks)
    python3 tests/slt/tools/pg_complete.py                 # all of tests/slt/src/*.slt.in
    python3 tests/slt/tools/pg_complete.py joins strings   # only these sources
    python3 tests/slt/tools/pg_complete.py --check         # fail if an output file would change
    python3 tests/slt/tools/pg_complete.py --fix-types     # rewrite wrong type letters in src/

Connection: the usual libpq environment variables (PGHOST, PGPORT, PGUSER,
PGPASSWORD); defaults are 127.0.0.1:5432, user postgres.  The script connects
to the maintenance database given by --admin-db (default `test`) to create one
fresh database `slt_<name>` per source file, runs the file in it, and drops it
afterwards, so files are independent of each other.

What it does
------------
For every source file tests/slt/src/<name>.slt.in it writes tests/slt/<name>.slt:

* `statement ok` records must succeed in PostgreSQL (the script stops otherwise).
* `statement error <regex>` / `query error <regex>` must fail in PostgreSQL with
  a primary error message matched by <regex> (Python `re.search`).
* `query <types> [rowsort|nosort]` records are run and their result block
  (after `----`) is (re)written in sqllogictest format: one row per line,
  values separated by one space, NULL as `NULL`, the empty string as
  `(empty)`, everything else exactly as PostgreSQL's text output prints it.
  Rows of `rowsort` queries are written sorted element-wise (as the
  sqllogictest runner sorts rows), so reruns are byte-identical.
  With psycopg, the type letters are checked against the result's column
  types (I = int2/int4/int8, R = float4/float8/numeric, T = anything else).
* Records preceded by `onlyif laaster` are copied through unchanged and not
  run in PostgreSQL (expected output written by hand). `skipif laaster` is
  rejected: every test must hold for Laaster.
* Comments and blank lines are preserved.

Translation applied only for the PostgreSQL run: `CREATE MATERIALIZED VIEW`
becomes `CREATE VIEW` and `DROP MATERIALIZED VIEW` becomes `DROP VIEW`
(Laaster's materialized views are always up to date, which a plain PG view
models exactly).

Session settings used for the PG run (they define the expected output
format): TimeZone=UTC, DateStyle='ISO, MDY', IntervalStyle=postgres,
extra_float_digits=1, bytea_output=hex, lc_messages=C; databases use
LC_COLLATE 'C' (text sorts by code point) and LC_CTYPE 'C.UTF-8'.

Safety checks that make the script fail (so the test gets fixed, not
silently wrong): values containing newlines/tabs, leading/trailing or doubled
spaces (the sqllogictest runner normalises whitespace), text values that are
literally `NULL` or `(empty)`, and multi-row queries without `rowsort` whose
SQL has no top-level ORDER BY (ties in an ORDER BY are not detected: avoid them).
"""

import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SLT_DIR = os.path.dirname(HERE)
SRC_DIR = os.path.join(SLT_DIR, "src")

SESSION_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "extra_float_digits": "1",
    "bytea_output": "hex",
    "lc_messages": "C",
    "client_encoding": "UTF8",
}

INT_OIDS = {20, 21, 23}  # int8, int2, int4
REAL_OIDS = {700, 701, 1700}  # float4, float8, numeric

HEADER = (
    "# Generated from src/{name}.slt.in by tools/pg_complete.py against PostgreSQL 15.\n"
    "# Do not edit by hand: edit the source and rerun the script.\n"
)


class SltError(Exception):
    pass


# --------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------

class Block:
    """A chunk of the file between blank lines."""

    def __init__(self, lines, lineno):
        self.lines = lines
        self.lineno = lineno  # 1-based line of the first line
        self.comments = []
        self.conditions = []
        self.header = None
        self.sql_lines = []
        self.result_lines = []
        self.has_delim = False
        self._parse()

    def _parse(self):
        i = 0
        ls = self.lines
        while i < len(ls) and ls[i].startswith("#"):
            self.comments.append(ls[i])
            i += 1
        while i < len(ls) and ls[i].split()[:1] in (["onlyif"], ["skipif"]):
            self.conditions.append(ls[i])
            i += 1
        if i == len(ls):
            return
        self.header = ls[i]
        i += 1
        while i < len(ls) and ls[i] != "----":
            self.sql_lines.append(ls[i])
            i += 1
        if i < len(ls):
            self.has_delim = True
            self.result_lines = ls[i + 1:]

    @property
    def kind(self):
        if self.header is None:
            return "comment"
        return self.header.split()[0]

    @property
    def sql(self):
        return "\n".join(self.sql_lines)


def read_blocks(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    blocks = []
    cur = []
    start = 1
    for n, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if line.strip() == "":
            if cur:
                blocks.append(Block(cur, start))
                cur = []
        else:
            if not cur:
                start = n
            cur.append(line.rstrip())
    if cur:
        blocks.append(Block(cur, start))
    return blocks


# --------------------------------------------------------------------------
# PostgreSQL backends
# --------------------------------------------------------------------------

class Result:
    def __init__(self, ok, rows=None, oids=None, error=None):
        self.ok = ok
        self.rows = rows or []  # list of list of (str | None)
        self.oids = oids  # list of type oids, or None if unknown
        self.error = error


def conninfo_kwargs(dbname):
    return dict(
        host=os.environ.get("PGHOST", "127.0.0.1"),
        port=os.environ.get("PGPORT", "5432"),
        user=os.environ.get("PGUSER", "postgres"),
        dbname=dbname,
    )


class PsycopgBackend:
    name = "psycopg"

    def __init__(self, dbname):
        import psycopg
        from psycopg import pq

        self.pq = pq
        opts = " ".join(
            "-c {}={}".format(k, v.replace(" ", "\\ ")) for k, v in SESSION_SETTINGS.items()
        )
        self.conn = psycopg.connect(autocommit=True, options=opts, **conninfo_kwargs(dbname))

    def run(self, sql):
        pq = self.pq
        res = self.conn.pgconn.exec_(sql.encode("utf-8"))
        st = res.status
        if st == pq.ExecStatus.TUPLES_OK:
            oids = [res.ftype(c) for c in range(res.nfields)]
            rows = []
            for r in range(res.ntuples):
                row = []
                for c in range(res.nfields):
                    v = res.get_value(r, c)
                    row.append(None if v is None else v.decode("utf-8"))
                rows.append(row)
            return Result(True, rows, oids)
        if st in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.EMPTY_QUERY):
            return Result(True, [], [])
        msg = res.error_field(pq.DiagnosticField.MESSAGE_PRIMARY)
        msg = msg.decode("utf-8") if msg else (res.error_message or b"").decode("utf-8")
        return Result(False, error=msg.strip())

    def close(self):
        self.conn.close()


class PsqlBackend:
    """Fallback: one psql process per record (state lives in the database)."""

    name = "psql"
    FS = "\x1f"
    RS = "\x1e"
    NULL = "\x01NULL\x01"

    def __init__(self, dbname):
        self.dbname = dbname
        self.env = dict(os.environ)
        self.env["PGOPTIONS"] = " ".join(
            "-c {}={}".format(k, v.replace(" ", "\\ ")) for k, v in SESSION_SETTINGS.items()
        )
        for k, v in conninfo_kwargs(dbname).items():
            self.env[{"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "dbname": "PGDATABASE"}[k]] = v

    def run(self, sql):
        # Unaligned output with header and footer: "hdr RS row RS ... RS (N rows)\n".
        # The header and footer make an empty result distinguishable from one
        # row holding an empty string.
        p = subprocess.run(
            ["psql", "-X", "-q", "-A", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=terse",
             "-F", self.FS, "-R", self.RS, "-P", "null=" + self.NULL, "-P", "footer=on",
             "-c", sql],
            env=self.env, capture_output=True, text=True,
        )
        if p.returncode != 0:
            m = re.search(r"ERROR:\s+(.*)", p.stderr)
            return Result(False, error=(m.group(1) if m else p.stderr).strip())
        out = p.stdout
        if out.endswith("\n"):
            out = out[:-1]
        if out == "":
            return Result(True, [], None)  # a command, not a query
        parts = out.split(self.RS)
        footer = parts[-1]
        m = re.fullmatch(r"\((\d+) rows?\)", footer)
        if not m or len(parts) - 2 != int(m.group(1)):
            raise SltError("cannot parse psql output {!r}".format(p.stdout))
        rows = [[None if v == self.NULL else v for v in rec.split(self.FS)] for rec in parts[1:-1]]
        return Result(True, rows, None)

    def close(self):
        pass


def make_backend(kind, dbname):
    if kind in ("auto", "psycopg"):
        try:
            return PsycopgBackend(dbname)
        except ImportError:
            if kind == "psycopg":
                raise
    return PsqlBackend(dbname)


def admin_exec(kind, admin_db, sql):
    b = make_backend(kind, admin_db)
    try:
        r = b.run(sql)
    finally:
        b.close()
    return r


def create_db(kind, admin_db, dbname):
    admin_exec(kind, admin_db, 'DROP DATABASE IF EXISTS "{}" WITH (FORCE)'.format(dbname))
    r = admin_exec(
        kind, admin_db,
        "CREATE DATABASE \"{}\" TEMPLATE template0 ENCODING 'UTF8' "
        "LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'".format(dbname),
    )
    if not r.ok:
        r = admin_exec(
            kind, admin_db,
            "CREATE DATABASE \"{}\" TEMPLATE template0 ENCODING 'UTF8' "
            "LC_COLLATE 'C' LC_CTYPE 'C'".format(dbname),
        )
    if not r.ok:
        raise SltError("cannot create database {}: {}".format(dbname, r.error))


def drop_db(kind, admin_db, dbname):
    admin_exec(kind, admin_db, 'DROP DATABASE IF EXISTS "{}" WITH (FORCE)'.format(dbname))


# --------------------------------------------------------------------------
# Completion
# --------------------------------------------------------------------------

MV_CREATE = re.compile(r"\bCREATE\s+MATERIALIZED\s+VIEW\b", re.I)
MV_DROP = re.compile(r"\bDROP\s+MATERIALIZED\s+VIEW\b", re.I)


def translate(sql):
    sql = MV_CREATE.sub("CREATE VIEW", sql)
    sql = MV_DROP.sub("DROP VIEW", sql)
    return sql


def type_letter(oid):
    if oid in INT_OIDS:
        return "I"
    if oid in REAL_OIDS:
        return "R"
    return "T"


def format_value(v, where):
    if v is None:
        return "NULL"
    if v == "":
        return "(empty)"
    if v in ("NULL", "(empty)"):
        raise SltError("{}: text value {!r} is ambiguous with the NULL/empty markers".format(where, v))
    if "\n" in v or "\t" in v or "\r" in v:
        raise SltError("{}: value {!r} contains a newline or tab".format(where, v))
    if v != v.strip(" ") or "  " in v:
        raise SltError(
            "{}: value {!r} has leading/trailing or doubled spaces, which the runner "
            "normalises away; wrap it (e.g. '[' || x || ']')".format(where, v))
    return v


def complete_file(name, kind, admin_db, fix_types):
    src = os.path.join(SRC_DIR, name + ".slt.in")
    blocks = read_blocks(src)
    dbname = "slt_" + re.sub(r"[^a-z0-9_]", "_", name.lower())
    create_db(kind, admin_db, dbname)
    backend = make_backend(kind, dbname)
    out = [HEADER.format(name=name)]
    stats = {"query": 0, "statement": 0, "onlyif": 0}
    type_fixes = []  # (line index in src, new header)
    try:
        for b in blocks:
            where = "{}:{}".format(os.path.relpath(src, SLT_DIR), b.lineno)
            if b.kind == "comment":
                out.append("\n".join(b.lines) + "\n")
                continue
            for c in b.conditions:
                toks = c.split()
                if toks != ["onlyif", "laaster"]:
                    raise SltError("{}: unsupported condition {!r} (only `onlyif laaster`)".format(where, c))
            if b.kind not in ("statement", "query"):
                if b.conditions:
                    out.append("\n".join(b.lines) + "\n")
                    continue
                raise SltError("{}: unsupported record {!r}".format(where, b.header))
            if not b.sql.strip():
                raise SltError("{}: record without SQL".format(where))
            stats[b.kind] += 1
            if b.conditions:
                stats["onlyif"] += 1
                out.append("\n".join(b.lines) + "\n")
                continue
            toks = b.header.split()
            sql = translate(b.sql)
            res = backend.run(sql)

            # ---- statements
            if b.kind == "statement":
                if b.has_delim:
                    raise SltError("{}: statement with a result block".format(where))
                if toks[1:] == ["ok"]:
                    if not res.ok:
                        raise SltError("{}: statement failed in PostgreSQL: {}\n{}".format(where, res.error, b.sql))
                elif toks[1] == "error" and len(toks) > 2:
                    check_error(where, " ".join(toks[2:]), res, b.sql)
                else:
                    raise SltError("{}: unsupported statement header {!r}".format(where, b.header))
                out.append("\n".join(b.comments + [b.header] + b.sql_lines) + "\n")
                continue

            # ---- queries
            if toks[1] == "error":
                if len(toks) < 3:
                    raise SltError("{}: `query error` needs a regex".format(where))
                check_error(where, " ".join(toks[2:]), res, b.sql)
                out.append("\n".join(b.comments + [b.header] + b.sql_lines) + "\n")
                continue
            types = toks[1]
            sort = toks[2] if len(toks) > 2 else None
            if sort not in (None, "rowsort", "nosort"):
                raise SltError("{}: unsupported sort mode {!r}".format(where, sort))
            if len(toks) > 3:
                raise SltError("{}: trailing tokens in {!r}".format(where, b.header))
            if not res.ok:
                raise SltError("{}: query failed in PostgreSQL: {}\n{}".format(where, res.error, b.sql))
            header = b.header
            if res.oids is not None:
                want = "".join(type_letter(o) for o in res.oids)
                if want != types:
                    if fix_types:
                        header = " ".join(["query", want] + toks[2:])
                        type_fixes.append((b.lineno - 1 + len(b.comments) + len(b.conditions), header))
                    else:
                        raise SltError("{}: type string {} but PostgreSQL returns {}\n{}".format(
                            where, types, want, b.sql))
            else:
                if res.rows and len(res.rows[0]) != len(types):
                    raise SltError("{}: {} type letters but {} columns".format(where, len(types), len(res.rows[0])))
            rows = [[format_value(v, where) for v in row] for row in res.rows]
            if sort == "rowsort":
                # Same order as the sqllogictest runner's own rowsort: rows compared
                # element-wise as lists of strings (byte / code point order).
                rows.sort()
            elif len(rows) > 1 and not has_outer_order_by(b.sql):
                raise SltError("{}: multi-row query without ORDER BY must use rowsort\n{}".format(where, b.sql))
            rows = [" ".join(row) for row in rows]
            out.append("\n".join(b.comments + [header] + b.sql_lines + ["----"] + rows) + "\n")
    finally:
        backend.close()
        drop_db(kind, admin_db, dbname)

    if type_fixes:
        with open(src, encoding="utf-8") as f:
            src_lines = f.read().split("\n")
        for idx, header in type_fixes:
            src_lines[idx] = header
        with open(src, "w", encoding="utf-8") as f:
            f.write("\n".join(src_lines))
        print("  fixed {} type strings in {}".format(len(type_fixes), os.path.relpath(src, SLT_DIR)))
    return "\n".join(out), stats


def has_outer_order_by(sql):
    """True if the statement has an ORDER BY outside any parentheses."""
    depth = 0
    for m in re.finditer(r"'(?:[^']|'')*'|\(|\)|\border\s+by\b", sql, re.I):
        t = m.group(0)
        if t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
        elif not t.startswith("'") and depth == 0:
            return True
    return False


def check_error(where, regex, res, sql):
    if res.ok:
        raise SltError("{}: expected an error matching /{}/ but PostgreSQL succeeded\n{}".format(where, regex, sql))
    if not re.search(regex, res.error):
        raise SltError("{}: PostgreSQL error {!r} does not match /{}/\n{}".format(where, res.error, regex, sql))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("names", nargs="*", help="source names (without .slt); default: all")
    ap.add_argument("--admin-db", default=os.environ.get("PGDATABASE", "test"))
    ap.add_argument("--backend", choices=["auto", "psycopg", "psql"], default="auto")
    ap.add_argument("--check", action="store_true", help="do not write; fail if outputs are stale")
    ap.add_argument("--fix-types", action="store_true", help="rewrite wrong type letters in the sources")
    args = ap.parse_args()

    names = args.names or sorted(
        f[:-len(".slt.in")] for f in os.listdir(SRC_DIR) if f.endswith(".slt.in"))
    total = {"query": 0, "statement": 0, "onlyif": 0}
    stale = []
    try:
        for name in names:
            text, stats = complete_file(name, args.backend, args.admin_db, args.fix_types)
            dst = os.path.join(SLT_DIR, name + ".slt")
            old = open(dst, encoding="utf-8").read() if os.path.exists(dst) else None
            if old != text:
                if args.check:
                    stale.append(name)
                else:
                    with open(dst, "w", encoding="utf-8") as f:
                        f.write(text)
            for k in total:
                total[k] += stats[k]
            print("{:32s} {:4d} queries {:4d} statements{}".format(
                name, stats["query"], stats["statement"],
                " ({} onlyif laaster)".format(stats["onlyif"]) if stats["onlyif"] else ""))
    except SltError as e:
        print("ERROR: {}".format(e), file=sys.stderr)
        sys.exit(1)
    print("{:32s} {:4d} queries {:4d} statements".format("TOTAL", total["query"], total["statement"]))
    if stale:
        print("stale outputs: {}".format(", ".join(stale)), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
