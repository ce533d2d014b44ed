"""Seeds bench/side-by-side.sh's keys: N random Keyport keys (the real format: prefix,
environment, 256 random bits in base62, CRC32 checksum) spread over N/100 applications of
developer@bench.test, each subscribed to the API's metered plan; each key limited to 10
requests per second (KEY_RATE), from anywhere (IP_ALLOWLIST: CIDRs it is allowed from).
Plus one application on the latency plan with one key, for the fixed-rate run. Writes keys.txt (one key per line), keys.map (HAProxy's map: SHA-256 hex →
application) and latency-key.txt into OUT_DIR.

    python3 seed-keys.py OUT_DIR DATABASE_URL API_ID METERED_PLAN LATENCY_PLAN N
"""
import csv, hashlib, os, secrets, subprocess, sys, zlib

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def checksum(body):
    n = zlib.crc32(body.encode())  # crc32fast computes the same CRC-32 (IEEE)
    out = []
    for _ in range(6):
        out.append(BASE62[n % 62])
        n //= 62
    return "".join(reversed(out))


def new_key():
    body = "kp_live_" + "".join(secrets.choice(BASE62) for _ in range(43))
    return body + checksum(body)


out, url, api, metered, latency_plan, n = sys.argv[1:7]
n = int(n)
apps = [f"bench-app-{i:05d}" for i in range(max(1, n // 100))] + ["bench-latency"]
owner = "(SELECT id FROM users WHERE email = 'developer@bench.test')"
sql = []
for app in apps:
    plan = latency_plan if app == "bench-latency" else metered
    sql.append(
        f"INSERT INTO applications (id, owner_kind, owner_id, name, description, created_at, updated_at) "
        f"VALUES ('{app}', 'user', {owner}, '{app}', '', 0, 0);"
    )
    sql.append(
        f"INSERT INTO subscriptions (id, application_id, api_id, plan_id, state, created_at, updated_at) "
        f"VALUES ('sub-{app}', '{app}', '{api}', '{plan}', 'active', 0, 0);"
    )
columns = "id, application_id, name, environment, digest, display_prefix, last4, scopes, ip_allowlist, created_at, rate_limit, rate_period"
rows, keys = [], []
for i in range(n + 1):
    key = new_key()
    app = apps[i % (len(apps) - 1)] if i < n else "bench-latency"
    rate = int(os.environ.get("KEY_RATE", "10")) if i < n else 1_000_000
    digest = hashlib.sha256(key.encode()).hexdigest()
    rows.append((f"bench-key-{i:07d}", app, f"load {i}", "live", digest, key[:12], key[-4:], "read", os.environ.get("IP_ALLOWLIST", ""), 0, rate, "second"))
    keys.append((key, digest, app))
with open(os.path.join(out, "keys.txt"), "w") as f:
    f.writelines(k + "\n" for k, _, _ in keys[:n])
with open(os.path.join(out, "keys.map"), "w") as f:
    f.writelines(f"{d} {a}\n" for _, d, a in keys[:n])
with open(os.path.join(out, "latency-key.txt"), "w") as f:
    f.write(keys[n][0] + "\n")

if url.startswith("sqlite://"):
    import sqlite3

    c = sqlite3.connect(url[len("sqlite://"):])
    c.executescript("BEGIN;\n" + "\n".join(sql) + "\nCOMMIT;")
    c.executemany(f"INSERT INTO api_keys ({columns}) VALUES ({', '.join('?' * 12)})", rows)
    c.commit()
else:
    path = os.path.join(out, "keys.csv")
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    script = "BEGIN;\n" + "\n".join(sql) + f"\n\\copy api_keys ({columns}) FROM '{path}' WITH (FORMAT csv, FORCE_NOT_NULL (ip_allowlist))\nCOMMIT;\n"
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url], input=script.encode(), check=True)
