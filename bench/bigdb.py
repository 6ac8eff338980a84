"""The benches' "production": an Odoo 18 database of at least 1 GB with at
least 20,000 filestore files, made once and reused (its comment says so).

Base installed by odoo-bin (no demo); then partners in bulk by SQL until the
database is big enough, and attachments whose files are real files in the
filestore (Odoo's layout: <data_dir>/filestore/<db>/<xx>/<sha1>).
"""

import hashlib
import os
import random
import subprocess
import sys
import time

import psycopg2

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARK = "ipai-ops bench bigdb v2"


def conn_params():
    return {"host": os.environ["OPS_DB_HOST"], "port": int(os.environ["OPS_DB_PORT"]),
            "user": os.environ["OPS_DB_USER"], "password": os.environ["OPS_DB_PASSWORD"]}


def connect(db):
    return psycopg2.connect(dbname=db, **conn_params())


def admin(statement):
    conn = connect("postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cr:
            cr.execute(statement)
            return cr.fetchall() if cr.description else None
    finally:
        conn.close()


def drop(db):
    """DROP DATABASE; a plain DROP (which stops autovacuum itself) when FORCE
    may not signal an autovacuum worker on a freshly restored database."""
    try:
        admin('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % db)
    except psycopg2.errors.InsufficientPrivilege:
        for attempt in range(10):
            try:
                admin('DROP DATABASE IF EXISTS "%s"' % db)
                return
            except psycopg2.errors.ObjectInUse:
                if attempt == 9:
                    raise
                time.sleep(1)


def data_dir():
    return os.path.join(os.environ.get("OPS_HOME", "/opt/ipai-ops"), "data")


def filestore(db):
    return os.path.join(data_dir(), "filestore", db)


def odoo_cmd(db, *args):
    return [sys.executable, os.path.join(os.environ["ODOO_SRC"], "odoo-bin"), *args,
            "-c", os.environ["OPS_CONF"], "--addons-path", "%s/addons,%s/addons" % (os.environ["ODOO_SRC"], REPO),
            "--db_host", os.environ["OPS_DB_HOST"], "--db_port", os.environ["OPS_DB_PORT"],
            "--db_user", os.environ["OPS_DB_USER"], "-d", db]


def ensure(db, min_bytes=1 << 30, files=20000, log=print):
    """Make (or reuse) the database. Returns {"size": bytes, "files": n}."""
    found = admin("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '%s'" % db)
    if found and (found[0][0] or "").startswith(MARK):
        return info(db)
    log("making %s: base, then >= %.1f GB of partners and %d filestore files (once)" % (db, min_bytes / 2**30, files))
    drop(db)
    subprocess.run(["rm", "-rf", filestore(db)], check=True)
    subprocess.run(odoo_cmd(db, "-i", "base", "--without-demo=all", "--stop-after-init", "--log-level=warn"),
                   check=True, cwd="/")
    rng = random.Random(42)
    store = filestore(db)
    with connect(db) as conn, conn.cursor() as cr:
        rows = []
        for i in range(files):
            data = rng.randbytes(rng.randint(2048, 30000))
            sha = hashlib.sha1(data).hexdigest()
            path = os.path.join(store, sha[:2], sha)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(data)
            rows.append(("doc-%05d.bin" % i, "%s/%s" % (sha[:2], sha), len(data), sha))
        cr.executemany("""INSERT INTO ir_attachment (name, store_fname, file_size, checksum, mimetype, type,
                              res_model, res_id, public, create_date, write_date, company_id)
                          VALUES (%s, %s, %s, %s, 'application/octet-stream', 'binary', 'res.partner', 1, false,
                                  now(), now(), 1)""", rows)
        # Spread like a production database: contacts, server logs and the
        # text index of documents, not one huge table.
        step = 0
        while True:
            step += 1
            cr.execute("""INSERT INTO ir_logging (create_date, create_uid, name, type, dbname, level, message, path,
                                                  func, line)
                          SELECT now() - (g || ' seconds')::interval, 1, 'odoo.addons.sale', 'server',
                                 current_database(), 'INFO', 'order ' || g || ' confirmed: ' || repeat(md5(g::text), 6),
                                 'sale/models.py', 'action_confirm', (g % 900)::text
                            FROM generate_series(1, 150000) g""")
            cr.execute("""UPDATE ir_attachment SET index_content = repeat(md5(id::text || %s), 40)
                           WHERE id IN (SELECT id FROM ir_attachment WHERE index_content IS NULL LIMIT 4000)""",
                       [str(step)])
            cr.execute("""INSERT INTO res_partner (name, complete_name, email, street, city, zip, phone, comment,
                                                   active, type, is_company, create_date, write_date, lang)
                          SELECT 'Partner ' || g, 'Partner ' || g, 'p' || g || '@example.com',
                                 g || ' ' || md5(g::text) || ' Street', 'City ' || (g % 1000),
                                 lpad((g % 99999)::text, 5, '0'),
                                 '+32 ' || g, repeat(md5((g * 7)::text), 8), true, 'contact', false, now(), now(),
                                 'en_US'
                            FROM generate_series(1, 120000) g""")
            conn.commit()
            cr.execute("SELECT pg_database_size(current_database())")
            size = cr.fetchone()[0]
            log("  %s: %.2f GB" % (db, size / 2**30))
            if size >= min_bytes:
                break
        cr.execute("ANALYZE")
    admin("COMMENT ON DATABASE \"%s\" IS '%s'" % (db, MARK))
    return info(db)


def info(db):
    with connect(db) as conn, conn.cursor() as cr:
        cr.execute("SELECT pg_database_size(current_database())")
        size = cr.fetchone()[0]
    conn.close()
    count = sum(len(names) for _root, _dirs, names in os.walk(filestore(db)))
    return {"database": db, "size": size, "files": count,
            "filestore_bytes": sum(os.path.getsize(os.path.join(r, n)) for r, _d, ns in os.walk(filestore(db))
                                   for n in ns)}
