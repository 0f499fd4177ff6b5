#!/usr/bin/env python3
"""Havn server agent: makes one hosting server match what Havn wants, one action per run.

Havn copies this file to a server and runs ``python3 havn_agent.py < request.json``. It uses the
standard library only (Debian 12's Python 3.11) and never sees a plaintext password: databases
get server verifiers, mailboxes Dovecot hashes.

Request on stdin, one JSON object::

    {"profile": "sandbox" | "debian",
     "root": "/path",    # sandbox: the folder all state lives under (required);
                         # debian: prefix of every path written or referenced (default "/")
     "apply": true,      # debian only: false renders files but runs no system command
     "action": "webhotel.ensure",
     "params": {...}}

Reply on stdout, one JSON object: ``{"ok": true, "changed": bool, "result": {...}}`` (exit 0),
plus ``"planned": [{"argv": [...], "stdin": "..."}]`` with the commands that apply=false skipped.
On any error: ``{"ok": false, "error": "reason"}`` with exit status 2; files the failed action
had written are restored.

Actions and params; each ensures a state, so running it twice changes nothing the second time:

    webhotel.ensure      system_user, domains (first is primary), php_version, quota_mb, suspended
    webhotel.remove      system_user
    database.ensure      engine (mariadb|postgresql), name, user, password_verifier
    database.remove      engine, name, user
    maildomain.ensure    domain             maildomain.remove    domain
    mailbox.ensure       address, password_hash, quota_mb, suspended
    mailbox.remove       address
    alias.ensure         address, destinations
    alias.remove         address
    certificate.install  system_user, domain, fullchain_pem, key_pem
    state.show           (none)

Files per profile, idempotency rules and the server setup are in docs/agent.md.
"""

import base64
import contextlib
import datetime
import fcntl
import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import ssl
import stat
import subprocess
import sys
import tempfile

PHP_VERSIONS = ("8.2", "8.3")
MAX_MB = 1 << 24
HEADER = "Managed by havn-agent: do not edit, changes are overwritten."
USER_RE = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")
DB_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
DB_USER_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
LOCAL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?$")
LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
HASH_RE = re.compile(
    r"^\{(ARGON2ID|ARGON2I|SHA512-CRYPT|SHA256-CRYPT|BLF-CRYPT)\}[A-Za-z0-9./$=,+-]{8,500}$"
)
B64 = r"[A-Za-z0-9+/]{4,100}={0,2}"
VERIFIER_RE = {
    "mariadb": re.compile(r"^\*[0-9A-F]{40}$"),
    "postgresql": re.compile(rf"^SCRAM-SHA-256\$[0-9]{{4,7}}:{B64}\${B64}:{B64}$"),
}
PEM_RE = re.compile(r"-----BEGIN ([A-Z ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END \1-----")
KEY_TYPES = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")
RESERVED_USERS = {
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
    "proxy", "www-data", "backup", "list", "irc", "nobody", "systemd-network", "messagebus",
    "sshd", "postfix", "dovecot", "dovenull", "vmail", "mysql", "postgres", "redis", "havn",
}  # fmt: skip
RESERVED_DB_USERS = {"root", "mysql", "postgres", "public", "none", "debian_sys_maint"}
RESERVED_DBS = {"mysql", "information_schema", "performance_schema", "sys", "postgres",
                "template0", "template1"}  # fmt: skip
INDEX_HTML = """<!doctype html>
<html lang="da"><meta charset="utf-8"><title>Velkommen</title>
<h1>Velkommen / Welcome</h1>
<p>Dette webhotel er klar. Upload dit websted for at erstatte denne side.</p>
<p>This webhotel is ready. Upload your site to replace this page.</p>
</html>
"""


class AgentError(Exception):
    """A refusal or failure whose message is meant for a person."""


# --- validation --------------------------------------------------------------------------------


def _show(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_domain(value):
    """A lower-case LDH domain name in A-label form (xn-- labels must be valid punycode)."""
    if not isinstance(value, str) or not 3 <= len(value) <= 253:
        return False
    labels = value.split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        return False
    for label in labels:
        if not LABEL_RE.match(label):
            return False
        if label[2:4] == "--":
            if not label.startswith("xn--"):
                return False
            try:
                label[4:].encode("ascii").decode("punycode")
            except UnicodeError:
                return False
    return True


def is_address(value):
    if not isinstance(value, str) or value.count("@") != 1 or len(value) > 254:
        return False
    local, domain = value.split("@")
    return bool(LOCAL_RE.match(local)) and ".." not in local and is_domain(domain)


def _match(pattern, reserved=()):
    return lambda v: isinstance(v, str) and bool(pattern.match(v)) and v not in reserved


def _distinct(test):
    return lambda v: (
        isinstance(v, list) and 1 <= len(v) <= 100 and len(set(v)) == len(v) and all(map(test, v))
    )


PEM = (lambda v: isinstance(v, str) and 0 < len(v) <= 65536, "PEM text up to 64 KiB")
PARAMS = {  # name: (test, hint shown when the test fails)
    "system_user": (
        _match(USER_RE, RESERVED_USERS),
        "2-32 of a-z 0-9 _ -, from a letter, not reserved",
    ),
    "domain": (is_domain, "a lower-case domain name in A-label (xn--) form"),
    "domains": (_distinct(is_domain), "1-100 distinct domain names in A-label form"),
    "php_version": (lambda v: v in PHP_VERSIONS, f"one of {', '.join(PHP_VERSIONS)}"),
    "quota_mb": (lambda v: type(v) is int and 1 <= v <= MAX_MB, f"whole MB, 1 to {MAX_MB}"),
    "suspended": (lambda v: isinstance(v, bool), "true or false"),
    "engine": (lambda v: v in VERIFIER_RE, "mariadb or postgresql"),
    "name": (_match(DB_RE, RESERVED_DBS), "a-z 0-9 _, from a letter, at most 63, not reserved"),
    "user": (_match(DB_USER_RE, RESERVED_DB_USERS), "a-z 0-9 _, from a letter, at most 32"),
    "password_verifier": (lambda v: isinstance(v, str), "the server's password verifier"),
    "address": (is_address, "a lower-case e-mail address"),
    "password_hash": (_match(HASH_RE), "a Dovecot hash such as {ARGON2ID}$argon2id$..."),
    "destinations": (_distinct(is_address), "1-100 distinct e-mail addresses"),
    "fullchain_pem": PEM,
    "key_pem": PEM,
}


def check_params(params, names):
    if not isinstance(params, dict):
        raise AgentError("params must be a JSON object")
    unknown = sorted(set(params) - set(names))
    missing = [name for name in names if name not in params]
    if unknown or missing:
        raise AgentError(f"unknown params {unknown}" if unknown else f"missing params {missing}")
    for name in names:
        test, hint = PARAMS[name]
        if not test(params[name]):
            raise AgentError(f"invalid {name} {_show(params[name])}: {hint}")
    return params


# --- files --------------------------------------------------------------------------------------


def _dump(data):
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _lines(text):
    return [line for line in (text or "").splitlines() if line.strip() and line[0] != "#"]


class Host:
    """Files under one root, written atomically; a journal restores them if an action fails."""

    name = ""

    def __init__(self, root, apply):
        self.root = os.path.realpath(root)
        self.apply = apply
        self.changed = False
        self.journal = []  # (path, previous bytes or None, previous stat, previous link target)
        self.planned = []  # commands skipped because apply is false

    def path(self, rel):
        """The absolute path of ``rel`` under the root; no part above the last may be a link."""
        parts = [part for part in rel.split("/") if part]
        if any(part in (".", "..") or "\0" in part for part in parts):
            raise AgentError(f"refusing path {rel!r}")
        current = self.root
        for part in parts[:-1]:
            current = os.path.join(current, part)
            if os.path.islink(current):
                raise AgentError(f"refusing to follow the symlink {current}")
        return os.path.join(self.root, *parts)

    def read(self, rel):
        path = self.path(rel)
        if os.path.islink(path):
            raise AgentError(f"refusing to follow the symlink {path}")
        try:
            with open(path, encoding="utf-8", newline="") as file:
                return file.read()
        except FileNotFoundError:
            return None

    def listdir(self, rel):
        path = self.path(rel)
        if os.path.islink(path):
            raise AgentError(f"refusing to follow the symlink {path}")
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    def mkdirs(self, rel):
        """Create the folder and missing parents (0755); existing ones keep their mode."""
        path = self.path(rel)
        if not os.path.isdir(path):
            os.makedirs(path, 0o755, exist_ok=True)
            self.changed = True

    def ensure_dir(self, rel, mode=0o755, owner=None):
        path = self.path(rel)
        if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
            raise AgentError(f"{path} is not a directory")
        if not os.path.isdir(path):
            self.mkdirs(os.path.dirname(rel.rstrip("/")))
            os.mkdir(path, mode)
            self.changed = True
        info = os.lstat(path)
        if stat.S_IMODE(info.st_mode) != mode:
            os.chmod(path, mode)
            self.changed = True
        if owner and (info.st_uid, info.st_gid) != owner:
            os.chown(path, *owner, follow_symlinks=False)
            self.changed = True

    def write(self, rel, text, mode=0o644, owner=None):
        """Make the file hold ``text`` with ``mode`` (and owner); True when something changed."""
        path = self.path(rel)
        old = self.read(rel)
        info = os.lstat(path) if old is not None else None
        if (
            old == text
            and stat.S_IMODE(info.st_mode) == mode
            and (owner is None or (info.st_uid, info.st_gid) == owner)
        ):
            return False
        self.mkdirs(os.path.dirname(rel))
        self.journal.append((path, None if old is None else old.encode(), info, None))
        fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".havn-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(text.encode())
                os.fchmod(file.fileno(), mode)
                if owner:
                    os.fchown(file.fileno(), *owner)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        self.changed = True
        return True

    def symlink(self, rel, target):
        path = self.path(rel)
        previous = os.readlink(path) if os.path.islink(path) else None
        if previous == target:
            return False
        if os.path.exists(path) and previous is None:
            raise AgentError(f"{path} exists and is not a symlink")
        self.mkdirs(os.path.dirname(rel))
        self.journal.append((path, None, None, previous))
        temp = f"{path}.havn-tmp"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        os.symlink(target, temp)
        os.replace(temp, path)
        self.changed = True
        return True

    def remove(self, rel):
        path = self.path(rel)
        if not os.path.lexists(path):
            return False
        if os.path.islink(path):
            self.journal.append((path, None, None, os.readlink(path)))
        else:
            with open(path, "rb") as file:
                self.journal.append((path, file.read(), os.stat(path), None))
        os.unlink(path)
        self.changed = True
        return True

    def remove_tree(self, rel):
        path = self.path(rel)
        if os.path.islink(path) or os.path.isfile(path):
            os.unlink(path)
        elif os.path.isdir(path):
            shutil.rmtree(path)
        else:
            return False
        self.changed = True
        return True

    def rollback(self):
        for path, data, info, link in reversed(self.journal):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            if link is not None:
                os.symlink(link, path)
            elif data is not None:
                with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as file:
                    file.write(data)
                    os.fchown(file.fileno(), info.st_uid, info.st_gid)
                    os.fchmod(file.fileno(), stat.S_IMODE(info.st_mode))

    def lock(self):
        """Serialise actions on this server: mail maps are shared read-modify-write files."""
        self.mkdirs(os.path.dirname(self.LOCK))
        self.changed = False  # the state folder itself is no change to report
        fd = os.open(self.path(self.LOCK), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)

    def run(self, argv, stdin=None):
        if not self.apply:
            self.planned.append({"argv": argv, "stdin": stdin} if stdin else {"argv": argv})
            return ""
        try:
            done = subprocess.run(  # noqa: S603 -- fixed argument lists of validated values, no shell
                argv, input=stdin, capture_output=True, text=True, timeout=300, check=False
            )
        except FileNotFoundError:
            raise AgentError(f"{argv[0]} is not installed") from None
        except subprocess.TimeoutExpired:
            raise AgentError(f"{argv[0]} took longer than 300 s") from None
        if done.returncode:
            output = (done.stderr or done.stdout).strip()[-800:]
            raise AgentError(f"{' '.join(argv[:3])} failed ({done.returncode}): {output}")
        return done.stdout

    # --- records every profile keeps ------------------------------------------------------------

    def webhotels(self):
        found = {}
        for name in self.listdir(self.WEBHOTELS):
            user = name.removesuffix(".json")
            text = USER_RE.match(user) and self.read(self.webhotel_config(user))
            if text:
                found[user] = json.loads(text)
        return found

    def databases(self):
        found = []
        for engine in VERIFIER_RE:
            for name in self.listdir(f"{self.DATABASES}/{engine}"):
                text = DB_RE.match(name.removesuffix(".json")) and self.read(
                    f"{self.DATABASES}/{engine}/{name}"
                )
                if text:
                    found.append(json.loads(text))
        return found

    def database_sql(self, engine, sql):
        """Run SQL as the engine's administrator (nothing on a sandbox)."""

    def mail_changed(self, rels):
        """Let the mail servers see changed maps (nothing on a sandbox)."""

    def mail_owner(self):
        """Owner (uid, gid) of maildirs, or None to leave it."""
        return None

    def passwd_owner(self):
        """Owner (uid, gid) of the Dovecot passwd-files, or None to leave it."""
        return None


class Sandbox(Host):
    """Everything under one folder, no system commands: the zero-setup run and tests."""

    name = "sandbox"
    LOCK = ".havn-agent.lock"
    WEBHOTELS = "webhotels"
    DATABASES = "databases"
    MAPS = "mail"
    USERDB = "mail/passwd"
    DENYDB = "mail/passwd-deny"
    VMAIL = "mail"
    CERTS = "certs"

    def webhotel_config(self, user):
        return f"webhotels/{user}/webhotel.json"

    def ensure_webhotel(self, config):
        home = f"webhotels/{config['system_user']}"
        self.ensure_dir(f"{home}/public_html")
        default_index(self, f"{home}/public_html")
        self.write(f"{home}/webhotel.json", _dump(config))
        if config["suspended"]:
            self.write(f"{home}/SUSPENDED", "Suspended by Havn.\n")
        else:
            self.remove(f"{home}/SUSPENDED")
        return {"home": self.path(home)}

    def remove_webhotel(self, user):
        self.remove_tree(f"webhotels/{user}")

    def site_changed(self, user):
        pass


class Debian(Host):
    """A Debian 12 server: nginx, PHP-FPM, Postfix, Dovecot, MariaDB and PostgreSQL."""

    name = "debian"
    LOCK = "var/lib/havn/agent.lock"
    WEBHOTELS = "var/lib/havn/webhotels"
    DATABASES = "var/lib/havn/databases"
    MAPS = "etc/postfix/havn"
    USERDB = "etc/dovecot/havn-passwd"
    DENYDB = "etc/dovecot/havn-passwd-deny"
    VMAIL = "var/vmail"
    CERTS = "etc/ssl/havn"

    def webhotel_config(self, user):
        return f"{self.WEBHOTELS}/{user}.json"

    def ensure_webhotel(self, config):
        user, version = config["system_user"], config["php_version"]
        home = f"var/www/{user}"
        owner = self._system_user(user, home)
        web = owner and (owner[0], grp.getgrnam("www-data").gr_gid)
        self.ensure_dir(home, 0o750, web)
        self.ensure_dir(f"{home}/public_html", 0o750, web)
        self.ensure_dir(f"{home}/temp", 0o700, owner)
        default_index(self, f"{home}/public_html", owner)
        self.write(self.webhotel_config(user), _dump(config))
        pools = [v for v in PHP_VERSIONS if v != version and self.remove(self._pool(v, user))]
        if self.write(self._pool(version, user), self._render_pool(user)):
            pools.append(version)
        self._reload_php(pools)
        self.site_changed(user, config)
        return {"home": self.path(home)}

    def remove_webhotel(self, user):
        account = self.apply and self._owned_user(user, f"var/www/{user}")
        site = self.remove(f"etc/nginx/sites-enabled/havn-{user}.conf")
        if self.remove(f"etc/nginx/sites-available/havn-{user}.conf") or site:
            self._reload_nginx()
        self._reload_php([v for v in PHP_VERSIONS if self.remove(self._pool(v, user))])
        self.remove_tree(f"var/www/{user}")
        self.remove(self.webhotel_config(user))
        if account:
            self.run(["userdel", user])
            self.changed = True

    def site_changed(self, user, config=None):
        config = config or self.webhotels()[user]
        available = f"etc/nginx/sites-available/havn-{user}.conf"
        changed = self.write(available, self._render_site(config))
        if self.symlink(f"etc/nginx/sites-enabled/havn-{user}.conf", self.path(available)):
            changed = True
        if changed:
            self._reload_nginx()

    def _owned_user(self, user, home):
        """The system user's passwd entry (None if absent); refuses one with another home."""
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            return None
        if entry.pw_dir != self.path(home):
            raise AgentError(f"system user {user} exists and is not Havn's (home {entry.pw_dir})")
        return entry

    def _system_user(self, user, home):
        """Create the system user when applying; its (uid, gid), or None in render-only mode."""
        if not self.apply:
            return None
        entry = self._owned_user(user, home)
        if entry is None:
            self.run(["useradd", "--system", "--user-group", "--home-dir", self.path(home),
                      "--no-create-home", "--shell", "/usr/sbin/nologin", user])  # fmt: skip
            self.changed = True
            entry = pwd.getpwnam(user)
        return entry.pw_uid, entry.pw_gid

    def _pool(self, version, user):
        return f"etc/php/{version}/fpm/pool.d/havn-{user}.conf"

    def _reload_php(self, versions):
        for version in versions:
            self.run([f"php-fpm{version}", "-t"])
            self.run(["systemctl", "reload", f"php{version}-fpm"])

    def _reload_nginx(self):
        self.run(["nginx", "-t", "-q"])
        self.run(["systemctl", "reload", "nginx"])

    def _render_pool(self, user):
        home, sock = self.path(f"var/www/{user}"), self.path(f"run/php/havn-{user}.sock")
        return f"""; {HEADER}
[havn-{user}]
user = {user}
group = {user}
listen = {sock}
listen.owner = www-data
listen.group = www-data
listen.mode = 0660
pm = ondemand
pm.max_children = 8
pm.process_idle_timeout = 30s
pm.max_requests = 500
chdir = /
security.limit_extensions = .php
php_admin_value[open_basedir] = {home}/
php_admin_value[upload_tmp_dir] = {home}/temp
php_admin_value[session.save_path] = {home}/temp
php_admin_value[sys_temp_dir] = {home}/temp
php_admin_flag[allow_url_include] = off
php_admin_value[disable_functions] = exec,passthru,shell_exec,system,proc_open,popen,pcntl_exec
"""

    def _render_site(self, config):
        user, domains = config["system_user"], config["domains"]
        public = self.path(f"var/www/{user}/public_html")
        if config["suspended"]:
            body = f"""    root {public};
    location ^~ /.well-known/acme-challenge/ {{
        try_files $uri =404;
    }}
    location / {{
        default_type text/html;
        add_header Retry-After 3600 always;
        return 503 '<!doctype html><html lang="da"><meta charset="utf-8"><title>Lukket</title><h1>Siden er midlertidigt lukket</h1><p>This site is temporarily unavailable.</p></html>';
    }}
"""  # noqa: E501 -- one nginx string
        else:
            body = f"""    root {public};
    index index.php index.html index.htm;
    client_max_body_size 64m;
    location / {{
        try_files $uri $uri/ /index.php?$args;
    }}
    location ~ \\.php$ {{
        try_files $uri =404;
        include fastcgi_params;
        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
        fastcgi_pass unix:{self.path(f"run/php/havn-{user}.sock")};
    }}
    location ~ /\\.(?!well-known/) {{
        deny all;
    }}
"""
        blocks = [f"server {{\n    listen 80;\n    listen [::]:80;\n"
                  f"    server_name {' '.join(domains)};\n{body}}}\n"]  # fmt: skip
        with_cert = [d for d in domains if self.read(f"{self.CERTS}/{d}/fullchain.pem")]
        for domain in with_cert:
            names = [domain]
            if domain == domains[0]:  # the primary's certificate serves every name without one
                names += [d for d in domains[1:] if d not in with_cert]
            certs = self.path(f"{self.CERTS}/{domain}")
            blocks.append(
                f"server {{\n    listen 443 ssl http2;\n    listen [::]:443 ssl http2;\n"
                f"    server_name {' '.join(names)};\n"
                f"    ssl_certificate {certs}/fullchain.pem;\n"
                f"    ssl_certificate_key {certs}/privkey.pem;\n{body}}}\n"
            )
        return f"# {HEADER}\n" + "\n".join(blocks)

    def database_sql(self, engine, sql):
        if engine == "mariadb":
            self.run(["mysql", "--batch"], sql)
        else:
            psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres"]
            self.run(["runuser", "-u", "postgres", "--", *psql], sql)

    def mail_owner(self):
        return self._system_user("vmail", self.VMAIL)

    def passwd_owner(self):
        return (0, grp.getgrnam("dovecot").gr_gid) if self.apply else None

    def mail_changed(self, rels):
        maps = [rel for rel in rels if rel.startswith(self.MAPS)]
        if self.apply:  # also rebuild a map whose .db is missing or older (an earlier failure)
            for name in ("virtual_domains", "virtual_mailboxes", "virtual_aliases"):
                path, rel = self.path(f"{self.MAPS}/{name}"), f"{self.MAPS}/{name}"
                db = f"{path}.db"
                if (
                    rel not in maps
                    and os.path.exists(path)
                    and (not os.path.exists(db) or os.path.getmtime(db) < os.path.getmtime(path))
                ):
                    maps.append(rel)
        for rel in maps:
            self.run(["postmap", f"hash:{self.path(rel)}"])
        if maps:
            self.run(["systemctl", "reload", "postfix"])
        if any(rel in (self.USERDB, self.DENYDB) for rel in rels):
            self.run(["systemctl", "reload", "dovecot"])


# --- actions ------------------------------------------------------------------------------------


def default_index(host, public, owner=None):
    if not host.listdir(public):
        host.write(f"{public}/index.html", INDEX_HTML, 0o644, owner)


def webhotel_ensure(host, p):
    user, domains = p["system_user"], p["domains"]
    webhotels = host.webhotels()
    for other, config in webhotels.items():
        taken = set(domains) & set(config["domains"]) if other != user else set()
        if taken:
            raise AgentError(f"domain {sorted(taken)[0]} belongs to webhotel {other}")
    for dropped in set(webhotels.get(user, {}).get("domains", [])) - set(domains):
        host.remove_tree(f"{host.CERTS}/{dropped}")
    return {"system_user": user, **host.ensure_webhotel(dict(p))}


def webhotel_remove(host, p):
    config = host.webhotels().get(p["system_user"], {})
    host.remove_webhotel(p["system_user"])
    for domain in config.get("domains", []):
        host.remove_tree(f"{host.CERTS}/{domain}")
    return {"system_user": p["system_user"]}


def _sql_text(value):
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _check_database_user(host, engine, name, user):
    """One user per database: refuse to share a user or to change a database's user."""
    for db in (db for db in host.databases() if db["engine"] == engine):
        if db["name"] == name and db["user"] != user:
            raise AgentError(f"database {name} belongs to user {db['user']}")
        if db["name"] != name and db["user"] == user:
            raise AgentError(f"user {user} already owns database {db['name']}")


def database_ensure(host, p):
    engine, name, user, verifier = p["engine"], p["name"], p["user"], p["password_verifier"]
    if not VERIFIER_RE[engine].match(verifier):
        kind = "'*' and 40 hex digits" if engine == "mariadb" else "SCRAM-SHA-256$..."
        raise AgentError(f"invalid password_verifier for {engine}: expected {kind}")
    _check_database_user(host, engine, name, user)
    host.write(f"{host.DATABASES}/{engine}/{name}.json", _dump(p), 0o600)
    if engine == "mariadb":
        account, grant_db = f"{_sql_text(user)}@'localhost'", name.replace("_", "\\_")
        sql = (
            f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4;\n"
            f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY PASSWORD {_sql_text(verifier)};\n"
            f"ALTER USER {account} IDENTIFIED BY PASSWORD {_sql_text(verifier)};\n"
            f"GRANT ALL PRIVILEGES ON `{grant_db}`.* TO {account};\n"
        )
    else:
        literal = "'" + verifier.replace("'", "''") + "'"
        sql = (  # names and users match DB_RE / DB_USER_RE, so they need no escaping
            f"SELECT 'CREATE ROLE \"{user}\"' WHERE NOT EXISTS "  # noqa: S608
            f"(SELECT FROM pg_roles WHERE rolname = '{user}')\\gexec\n"
            f'ALTER ROLE "{user}" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE '
            f"PASSWORD {literal};\n"
            f'SELECT \'CREATE DATABASE "{name}" OWNER "{user}"\' WHERE NOT EXISTS '
            f"(SELECT FROM pg_database WHERE datname = '{name}')\\gexec\n"
            f'ALTER DATABASE "{name}" OWNER TO "{user}";\n'
            f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC;\n'
        )
    host.database_sql(engine, sql)
    return {"engine": engine, "name": name, "user": user}


def database_remove(host, p):
    engine, name, user = p["engine"], p["name"], p["user"]
    _check_database_user(host, engine, name, user)
    host.remove(f"{host.DATABASES}/{engine}/{name}.json")
    if engine == "mariadb":
        sql = f"DROP DATABASE IF EXISTS `{name}`;\nDROP USER IF EXISTS '{user}'@'localhost';\n"
    else:
        sql = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);\nDROP ROLE IF EXISTS "{user}";\n'
    host.database_sql(engine, sql)
    return {"engine": engine, "name": name, "user": user}


def load_mail(host):
    domains = {line.split()[0] for line in _lines(host.read(f"{host.MAPS}/virtual_domains"))}
    mailboxes = {}
    for line in _lines(host.read(host.USERDB)):
        address, password_hash, *_, extra = line.split(":", 7)
        quota = re.search(r"storage=([0-9]+)M", extra)
        mailboxes[address] = {
            "password_hash": password_hash,
            "quota_mb": int(quota.group(1)) if quota else 0,
            "suspended": " nologin" in extra,
        }
    aliases = {}
    for line in _lines(host.read(f"{host.MAPS}/virtual_aliases")):
        address, destinations = line.split(None, 1)
        aliases[address] = destinations.strip().split(",")
    return {"domains": domains, "mailboxes": mailboxes, "aliases": aliases}


def save_mail(host, mail):
    boxes, aliases = mail["mailboxes"], mail["aliases"]

    def lines(rows):
        return f"# {HEADER}\n" + "".join(f"{row}\n" for row in rows)

    passwd = [
        f"{address}:{box['password_hash']}::::::userdb_quota_rule=*:storage={box['quota_mb']}M"
        + (" nologin reason=suspended" if box["suspended"] else "")
        for address, box in sorted(boxes.items())
    ]
    files = {
        f"{host.MAPS}/virtual_domains": lines(f"{d} OK" for d in sorted(mail["domains"])),
        f"{host.MAPS}/virtual_mailboxes": lines(
            f"{a} {a.split('@')[1]}/{a.split('@')[0]}/Maildir/" for a in sorted(boxes)
        ),
        f"{host.MAPS}/virtual_aliases": lines(
            f"{a} {','.join(d)}" for a, d in sorted(aliases.items())
        ),
        host.USERDB: lines(passwd),
        host.DENYDB: lines(a for a, box in sorted(boxes.items()) if box["suspended"]),
    }
    private = (host.USERDB, host.DENYDB)
    changed = [
        rel
        for rel, text in files.items()
        if host.write(rel, text, *((0o640, host.passwd_owner()) if rel in private else ()))
    ]
    host.mail_changed(changed)


def _mail_domain_of(mail, address):
    domain = address.split("@")[1]
    if domain not in mail["domains"]:
        raise AgentError(f"mail domain {domain} does not exist; ensure it first")
    return domain


def maildomain_ensure(host, p):
    mail = load_mail(host)
    mail["domains"].add(p["domain"])
    host.ensure_dir(f"{host.VMAIL}/{p['domain']}", 0o700, host.mail_owner())
    save_mail(host, mail)
    return {"domain": p["domain"]}


def maildomain_remove(host, p):
    mail, suffix = load_mail(host), "@" + p["domain"]
    mail["domains"].discard(p["domain"])
    for kind in ("mailboxes", "aliases"):
        mail[kind] = {a: v for a, v in mail[kind].items() if not a.endswith(suffix)}
    save_mail(host, mail)
    host.remove_tree(f"{host.VMAIL}/{p['domain']}")
    return {"domain": p["domain"]}


def mailbox_ensure(host, p):
    mail, address = load_mail(host), p["address"]
    domain = _mail_domain_of(mail, address)
    if address in mail["aliases"]:
        raise AgentError(f"{address} is an alias; remove it first")
    mail["mailboxes"][address] = {k: p[k] for k in ("password_hash", "quota_mb", "suspended")}
    owner = host.mail_owner()
    folder = f"{host.VMAIL}/{domain}/{address.split('@')[0]}"
    for rel in (f"{host.VMAIL}/{domain}", folder, f"{folder}/Maildir"):
        host.ensure_dir(rel, 0o700, owner)
    for sub in ("cur", "new", "tmp"):
        host.ensure_dir(f"{folder}/Maildir/{sub}", 0o700, owner)
    save_mail(host, mail)
    return {"address": address, "maildir": host.path(f"{folder}/Maildir")}


def mailbox_remove(host, p):
    mail, address = load_mail(host), p["address"]
    mail["mailboxes"].pop(address, None)
    save_mail(host, mail)
    local, domain = address.split("@")
    host.remove_tree(f"{host.VMAIL}/{domain}/{local}")
    return {"address": address}


def alias_ensure(host, p):
    mail, address = load_mail(host), p["address"]
    _mail_domain_of(mail, address)
    if address in mail["mailboxes"]:
        raise AgentError(f"{address} is a mailbox; remove it first")
    mail["aliases"][address] = p["destinations"]
    save_mail(host, mail)
    return {"address": address, "destinations": p["destinations"]}


def alias_remove(host, p):
    mail = load_mail(host)
    mail["aliases"].pop(p["address"], None)
    save_mail(host, mail)
    return {"address": p["address"]}


def _tlv(der, pos):
    """The tag and content span of the DER element at ``pos``."""
    tag, length, pos = der[pos], der[pos + 1], pos + 2
    if length & 0x80:
        count = length & 0x7F
        length, pos = int.from_bytes(der[pos : pos + count], "big"), pos + count
    return tag, pos, pos + length


def certificate_info(pem):
    """notAfter (ISO 8601, UTC) and SHA-256 fingerprint of the first certificate in ``pem``."""
    der = base64.b64decode(PEM_RE.search(pem).group(2))
    try:
        _, pos, _ = _tlv(der, 0)  # Certificate
        _, pos, _ = _tlv(der, pos)  # TBSCertificate
        tag, _, end = _tlv(der, pos)
        pos = end if tag == 0xA0 else pos  # [0] version
        for _ in range(3):  # serialNumber, signature, issuer
            _, _, pos = _tlv(der, pos)
        _, pos, _ = _tlv(der, pos)  # validity
        _, _, pos = _tlv(der, pos)  # notBefore
        tag, start, end = _tlv(der, pos)
        form = "%y%m%d%H%M%SZ" if tag == 0x17 else "%Y%m%d%H%M%SZ"
        when = datetime.datetime.strptime(der[start:end].decode("ascii"), form)
    except (IndexError, ValueError, UnicodeError):
        raise AgentError("cannot read the certificate's expiry") from None
    return {
        "not_after": when.replace(tzinfo=datetime.UTC).isoformat(),
        "fingerprint_sha256": hashlib.sha256(der).hexdigest(),
    }


def _pem_blocks(text, types, what):
    blocks = list(PEM_RE.finditer(text))
    if not blocks or PEM_RE.sub("", text).strip() or any(b.group(1) not in types for b in blocks):
        raise AgentError(f"{what} must hold only PEM blocks of type {' or '.join(types)}")
    return "".join(block.group(0).replace("\r\n", "\n") + "\n" for block in blocks)


def certificate_install(host, p):
    config = host.webhotels().get(p["system_user"])
    if not config or p["domain"] not in config["domains"]:
        raise AgentError(f"webhotel {p['system_user']} has no domain {p['domain']}")
    chain = _pem_blocks(p["fullchain_pem"], ("CERTIFICATE",), "fullchain_pem")
    key = _pem_blocks(p["key_pem"], KEY_TYPES, "key_pem")
    if key.count("-----BEGIN") != 1:
        raise AgentError("key_pem must hold exactly one private key")
    with tempfile.TemporaryDirectory() as scratch:  # ssl loads files only; 0700 folder
        for file, text in (("c.pem", chain), ("k.pem", key)):
            with open(os.open(f"{scratch}/{file}", os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write(text)
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(
                f"{scratch}/c.pem", f"{scratch}/k.pem"
            )
        except ssl.SSLError as error:
            raise AgentError(f"certificate and key do not fit together: {error}") from None
    folder = f"{host.CERTS}/{p['domain']}"
    host.ensure_dir(folder, 0o700)
    changed = host.write(f"{folder}/fullchain.pem", chain, 0o644)
    changed = host.write(f"{folder}/privkey.pem", key, 0o600) or changed
    if changed:
        host.site_changed(p["system_user"])
    return {"domain": p["domain"], **certificate_info(chain)}


def state_show(host, p):
    webhotels = host.webhotels()
    owners = {d: user for user, config in webhotels.items() for d in config["domains"]}
    certificates = []
    for domain in host.listdir(host.CERTS):
        chain = is_domain(domain) and host.read(f"{host.CERTS}/{domain}/fullchain.pem")
        if chain:
            info = certificate_info(chain)
            certificates.append({"domain": domain, "system_user": owners.get(domain), **info})
    mail = load_mail(host)
    return {
        "profile": host.name,
        "webhotels": [webhotels[user] for user in sorted(webhotels)],
        "databases": sorted(
            ({k: db[k] for k in ("engine", "name", "user")} for db in host.databases()),
            key=lambda db: (db["engine"], db["name"]),
        ),
        "mail_domains": sorted(mail["domains"]),
        "mailboxes": [
            {"address": a, "quota_mb": box["quota_mb"], "suspended": box["suspended"]}
            for a, box in sorted(mail["mailboxes"].items())
        ],
        "aliases": [{"address": a, "destinations": d} for a, d in sorted(mail["aliases"].items())],
        "certificates": certificates,
    }


ACTIONS = {
    "webhotel.ensure": (
        webhotel_ensure,
        ("system_user", "domains", "php_version", "quota_mb", "suspended"),
    ),
    "webhotel.remove": (webhotel_remove, ("system_user",)),
    "database.ensure": (database_ensure, ("engine", "name", "user", "password_verifier")),
    "database.remove": (database_remove, ("engine", "name", "user")),
    "maildomain.ensure": (maildomain_ensure, ("domain",)),
    "maildomain.remove": (maildomain_remove, ("domain",)),
    "mailbox.ensure": (mailbox_ensure, ("address", "password_hash", "quota_mb", "suspended")),
    "mailbox.remove": (mailbox_remove, ("address",)),
    "alias.ensure": (alias_ensure, ("address", "destinations")),
    "alias.remove": (alias_remove, ("address",)),
    "certificate.install": (
        certificate_install,
        ("system_user", "domain", "fullchain_pem", "key_pem"),
    ),
    "state.show": (state_show, ()),
}


def handle(request):
    """Check the request: the host (locked unless read-only), the action and its params."""
    if not isinstance(request, dict):
        raise AgentError("the request must be a JSON object")
    unknown = set(request) - {"profile", "root", "apply", "action", "params"}
    if unknown:
        raise AgentError(f"unknown request keys {sorted(unknown)}")
    profiles = {"sandbox": Sandbox, "debian": Debian}
    profile = profiles.get(request.get("profile"))
    if profile is None:
        raise AgentError(f"unknown profile {_show(request.get('profile'))}: sandbox or debian")
    root = request.get("root", "/" if profile is Debian else None)
    if not isinstance(root, str) or not os.path.isabs(root) or "\0" in root:
        raise AgentError(f"invalid root {_show(root)}: an absolute path")
    apply = request.get("apply", True)
    if not isinstance(apply, bool):
        raise AgentError("apply must be true or false")
    action = request.get("action")
    if action not in ACTIONS:
        raise AgentError(f"unknown action {_show(action)}; known: {', '.join(ACTIONS)}")
    function, names = ACTIONS[action]
    params = check_params(request.get("params", {}), names)
    host = profile(root, apply and profile is Debian)
    if action != "state.show":
        host.lock()
    return host, function, params


def main():
    host = None
    try:
        raw = sys.stdin.read(1 << 20)
        try:
            request = json.loads(raw)
        except ValueError as error:
            raise AgentError(f"the request is not valid JSON: {error}") from None
        host, function, params = handle(request)
        reply = {"ok": True, "result": function(host, params), "changed": host.changed}
        if host.planned:
            reply["planned"] = host.planned
    except Exception as error:  # every failure becomes a readable reply
        if host is not None:
            with contextlib.suppress(OSError):
                host.rollback()
        reason = str(error) if isinstance(error, AgentError) else f"{type(error).__name__}: {error}"
        print(json.dumps({"ok": False, "error": reason}))
        return 2
    print(json.dumps(reply, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
