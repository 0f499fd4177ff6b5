"""The server agent (infra/agent/havn_agent.py), run as Havn runs it: JSON on stdin, JSON out.

Sandbox profile: every action is idempotent down to the bytes, refuses bad input without touching
anything, and state.show tells what is there. Debian profile, render-only into a temporary root:
what it writes passes the real tools (nginx -t, php-fpm -t, postmap, doveadm, dovecot, and the
SQL it would run passes MariaDB and PostgreSQL).
"""

import hashlib
import json
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from hosting.credentials import dovecot_hash, mysql_native_verifier, scram_sha256_verifier

AGENT = Path(__file__).resolve().parent.parent / "infra" / "agent" / "havn_agent.py"
PYTHON = shutil.which("python3")


def run_agent(request, *, ok=True, env=None):
    raw = request if isinstance(request, str) else json.dumps(request)
    done = subprocess.run(
        [PYTHON, str(AGENT)], input=raw, capture_output=True, text=True, timeout=60, env=env
    )
    reply = json.loads(done.stdout)
    if ok:
        assert done.returncode == 0 and reply["ok"], reply
    else:
        assert done.returncode == 2, done
        assert reply["ok"] is False and reply["error"], reply
    return reply


def tree(root: Path) -> dict:
    """Every path under root with its type, mode and a hash of its content (or link target)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                what = "link " + os.readlink(path)
            elif stat.S_ISDIR(info.st_mode):
                what = "dir"
            else:
                what = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(root))] = (oct(info.st_mode), what)
    return found


def tool(name, package):
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None
    )
    if not path:
        pytest.skip(f"{name} is missing: install the Debian package {package}")
    return path


def self_signed(tmp_path, domain):
    """A self-signed certificate and key for domain, plus openssl's notAfter and fingerprint."""
    tool("openssl", "openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "30", "-subj", f"/CN={domain}", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )  # fmt: skip
    shown = subprocess.run(
        ["openssl", "x509", "-in", cert, "-noout", "-fingerprint", "-sha256"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    fingerprint = shown.strip().split("=", 1)[1].replace(":", "").lower()
    return cert.read_text(), key.read_text(), fingerprint


class Agent:
    def __init__(self, profile, root, **extra):
        self.request = {"profile": profile, "root": str(root), **extra}
        self.root = Path(root)
        self.env = None

    def __call__(self, action, ok=True, **params):
        request = {**self.request, "action": action, "params": params}
        return run_agent(request, ok=ok, env=self.env)

    def twice(self, action, **params):
        """Run an action twice: the second run reports no change and leaves identical bytes."""
        first = self(action, **params)
        before = tree(self.root)
        second = self(action, **params)
        assert second["changed"] is False, (action, second)
        assert tree(self.root) == before, action
        assert second["result"] == first["result"]
        return first, second

    def state(self):
        return self("state.show")["result"]


SHA512_HASH = "{SHA512-CRYPT}$6$abcdefgh$" + "x" * 86
WEBHOTEL = {
    "system_user": "alfa",
    "domains": ["alfa.dk", "www.alfa.dk", "xn--blbrgrd-fxak7p.dk"],
    "php_version": "8.2",
    "quota_mb": 2000,
    "suspended": False,
}
MARIADB = {
    "engine": "mariadb",
    "name": "alfa_wp",
    "user": "alfa_wp",
    "password_verifier": mysql_native_verifier("pw"),
}
POSTGRES = {
    "engine": "postgresql",
    "name": "alfa_app",
    "user": "alfa_app",
    "password_verifier": scram_sha256_verifier("pw"),
}
MAILBOX = {
    "address": "info@alfa.dk",
    "password_hash": SHA512_HASH,
    "quota_mb": 500,
    "suspended": False,
}
ALIAS = {"address": "salg@alfa.dk", "destinations": ["info@alfa.dk", "ejer@example.com"]}


def everything(agent, tmp_path):
    """Every ensure action, each run twice; the steps for the tests below to build on."""
    fullchain, key, _ = self_signed(tmp_path, "alfa.dk")
    steps = [
        ("webhotel.ensure", WEBHOTEL),
        ("database.ensure", MARIADB),
        ("database.ensure", POSTGRES),
        ("maildomain.ensure", {"domain": "alfa.dk"}),
        ("mailbox.ensure", MAILBOX),
        ("alias.ensure", ALIAS),
        ("certificate.install",
         {"system_user": "alfa", "domain": "alfa.dk", "fullchain_pem": fullchain, "key_pem": key}),
    ]  # fmt: skip
    for action, params in steps:
        first, _ = agent.twice(action, **params)
        assert first["changed"] is True, action


@pytest.fixture
def sandbox(tmp_path):
    return Agent("sandbox", tmp_path / "srv")


@pytest.fixture
def debian(tmp_path):
    (tmp_path / "root").mkdir()
    return Agent("debian", tmp_path / "root", apply=False)


# --- sandbox -------------------------------------------------------------------------------------


def test_every_action_twice_changes_nothing_the_second_time(sandbox, tmp_path):
    everything(sandbox, tmp_path)
    root = sandbox.root
    assert (root / "webhotels/alfa/public_html/index.html").is_file()
    assert json.loads((root / "webhotels/alfa/webhotel.json").read_text()) == WEBHOTEL
    assert not (root / "webhotels/alfa/SUSPENDED").exists()
    for sub in ("cur", "new", "tmp"):
        assert (root / "mail/alfa.dk/info/Maildir" / sub).is_dir()
    assert (root / "mail/passwd").read_text().splitlines()[1:] == [
        f"info@alfa.dk:{SHA512_HASH}::::::userdb_quota_rule=*:storage=500M"
    ]
    assert (
        "salg@alfa.dk info@alfa.dk,ejer@example.com\n"
        in (root / "mail/virtual_aliases").read_text()
    )
    assert "alfa.dk OK\n" in (root / "mail/virtual_domains").read_text()
    assert stat.S_IMODE((root / "certs/alfa.dk/privkey.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "databases/mariadb/alfa_wp.json").stat().st_mode) == 0o600
    for action, params in [
        ("alias.remove", {"address": ALIAS["address"]}),
        ("mailbox.remove", {"address": MAILBOX["address"]}),
        ("maildomain.remove", {"domain": "alfa.dk"}),
        ("database.remove", {k: MARIADB[k] for k in ("engine", "name", "user")}),
        ("webhotel.remove", {"system_user": "alfa"}),
    ]:
        first, _ = sandbox.twice(action, **params)
        assert first["changed"] is True, action


def test_existing_content_is_kept(sandbox):
    sandbox("webhotel.ensure", **WEBHOTEL)
    public = sandbox.root / "webhotels/alfa/public_html"
    (public / "index.html").unlink()
    (public / "index.php").write_text("<?php echo 'hej';")
    assert sandbox("webhotel.ensure", **WEBHOTEL)["changed"] is False
    assert sorted(p.name for p in public.iterdir()) == ["index.php"]


def test_suspend_and_unsuspend_toggle_the_marker(sandbox):
    marker = sandbox.root / "webhotels/alfa/SUSPENDED"
    sandbox("webhotel.ensure", **WEBHOTEL)
    first, _ = sandbox.twice("webhotel.ensure", **{**WEBHOTEL, "suspended": True})
    assert first["changed"] and marker.is_file()
    assert sandbox.state()["webhotels"][0]["suspended"] is True
    first, _ = sandbox.twice("webhotel.ensure", **WEBHOTEL)
    assert first["changed"] and not marker.exists()
    assert sandbox.state()["webhotels"][0]["suspended"] is False


def test_suspended_mailbox_is_denied_but_kept(sandbox):
    sandbox("maildomain.ensure", domain="alfa.dk")
    sandbox.twice("mailbox.ensure", **{**MAILBOX, "suspended": True})
    passwd = (sandbox.root / "mail/passwd").read_text()
    assert f"info@alfa.dk:{SHA512_HASH}:" in passwd and passwd.rstrip().endswith(
        "nologin reason=suspended"
    )
    assert (sandbox.root / "mail/passwd-deny").read_text().splitlines()[1:] == ["info@alfa.dk"]
    assert sandbox.state()["mailboxes"] == [
        {"address": "info@alfa.dk", "quota_mb": 500, "suspended": True}
    ]
    sandbox.twice("mailbox.ensure", **MAILBOX)
    assert (sandbox.root / "mail/passwd-deny").read_text().splitlines()[1:] == []


def test_state_show_reflects_the_tree(sandbox, tmp_path):
    assert sandbox.state() == {
        "profile": "sandbox", "webhotels": [], "databases": [], "mail_domains": [],
        "mailboxes": [], "aliases": [], "certificates": [],
    }  # fmt: skip
    everything(sandbox, tmp_path)
    state = sandbox.state()
    assert state["webhotels"] == [WEBHOTEL]
    assert state["databases"] == [
        {"engine": "mariadb", "name": "alfa_wp", "user": "alfa_wp"},
        {"engine": "postgresql", "name": "alfa_app", "user": "alfa_app"},
    ]
    assert state["mail_domains"] == ["alfa.dk"]
    assert state["mailboxes"] == [{"address": "info@alfa.dk", "quota_mb": 500, "suspended": False}]
    assert state["aliases"] == [ALIAS]
    [cert] = state["certificates"]
    assert cert["domain"] == "alfa.dk" and cert["system_user"] == "alfa"
    assert "password_verifier" not in json.dumps(state) and SHA512_HASH not in json.dumps(state)

    sandbox("maildomain.remove", domain="alfa.dk")  # takes its mailboxes and aliases along
    sandbox("webhotel.remove", system_user="alfa")  # and its certificates
    state = sandbox.state()
    assert state["mail_domains"] == state["mailboxes"] == state["aliases"] == []
    assert state["webhotels"] == state["certificates"] == []
    assert not (sandbox.root / "mail/alfa.dk").exists()
    assert not (sandbox.root / "webhotels/alfa").exists()
    assert not (sandbox.root / "certs/alfa.dk").exists()


def test_certificate_reports_expiry_and_fingerprint(sandbox, tmp_path):
    sandbox("webhotel.ensure", **WEBHOTEL)
    fullchain, key, fingerprint = self_signed(tmp_path, "alfa.dk")
    params = {
        "system_user": "alfa",
        "domain": "alfa.dk",
        "fullchain_pem": fullchain,
        "key_pem": key,
    }
    result = sandbox("certificate.install", **params)["result"]
    assert result["fingerprint_sha256"] == fingerprint
    end = subprocess.run(
        ["openssl", "x509", "-noout", "-enddate", "-dateopt", "iso_8601"],
        input=fullchain, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert end == "notAfter=" + result["not_after"].replace("T", " ").replace("+00:00", "Z")
    other_cert, other_key, _ = self_signed(tmp_path, "alfa.dk")
    error = sandbox("certificate.install", ok=False, **{**params, "key_pem": other_key})["error"]
    assert "do not fit" in error
    assert (sandbox.root / "certs/alfa.dk/fullchain.pem").read_text() == fullchain


INVALID = [
    ("webhotel.ensure", {**WEBHOTEL, "system_user": "Alfa!"}, "invalid system_user"),
    ("webhotel.ensure", {**WEBHOTEL, "system_user": "root"}, "invalid system_user"),
    ("webhotel.ensure", {**WEBHOTEL, "domains": ["../x"]}, "invalid domains"),
    ("webhotel.ensure", {**WEBHOTEL, "domains": ["Alfa.dk"]}, "invalid domains"),
    ("webhotel.ensure", {**WEBHOTEL, "domains": []}, "invalid domains"),
    ("webhotel.ensure", {**WEBHOTEL, "php_version": "7.4"}, "invalid php_version"),
    ("webhotel.ensure", {**WEBHOTEL, "quota_mb": True}, "invalid quota_mb"),
    ("webhotel.ensure", {**WEBHOTEL, "suspended": "no"}, "invalid suspended"),
    ("webhotel.ensure", {**WEBHOTEL, "shell": "/bin/sh"}, "unknown params"),
    ("webhotel.ensure", {"system_user": "beta"}, "missing params"),
    ("webhotel.ensure", {**WEBHOTEL, "system_user": "beta"}, "belongs to webhotel alfa"),
    ("webhotel.remove", {"system_user": "../etc"}, "invalid system_user"),
    ("database.ensure", {**MARIADB, "name": "alfa-wp"}, "invalid name"),
    ("database.ensure", {**MARIADB, "name": "mysql"}, "invalid name"),
    ("database.ensure", {**MARIADB, "user": "x'; DROP"}, "invalid user"),
    ("database.ensure", {**MARIADB, "password_verifier": "pw"}, "invalid password_verifier"),
    ("database.ensure", {**MARIADB, "name": "other"}, "already owns database alfa_wp"),
    ("database.ensure", {**MARIADB, "user": "someone"}, "belongs to user alfa_wp"),
    ("maildomain.ensure", {"domain": "alfa.dk/../../x"}, "invalid domain"),
    ("mailbox.ensure", {**MAILBOX, "password_hash": "{PLAIN}pw"}, "invalid password_hash"),
    ("mailbox.ensure", {**MAILBOX, "password_hash": SHA512_HASH + ":0:0"}, "invalid password_hash"),
    ("mailbox.ensure", {**MAILBOX, "address": "a..b@alfa.dk"}, "invalid address"),
    ("mailbox.ensure", {**MAILBOX, "address": "info@beta.dk"}, "mail domain beta.dk does not"),
    ("mailbox.ensure", {**MAILBOX, "address": ALIAS["address"]}, "is an alias"),
    ("alias.ensure", {**ALIAS, "address": MAILBOX["address"]}, "is a mailbox"),
    ("alias.ensure", {**ALIAS, "destinations": ["x@y.dk\nroot@z.dk"]}, "invalid destinations"),
    ("certificate.install",
     {"system_user": "alfa", "domain": "beta.dk", "fullchain_pem": "x", "key_pem": "y"},
     "has no domain beta.dk"),
    ("certificate.install",
     {"system_user": "alfa", "domain": "alfa.dk", "fullchain_pem": "x", "key_pem": "y"},
     "must hold only PEM blocks"),
    ("webhotel.explode", {}, "unknown action"),
]  # fmt: skip


@pytest.mark.parametrize(("action", "params", "message"), INVALID)
def test_invalid_params_are_refused_and_change_nothing(sandbox, action, params, message):
    sandbox("webhotel.ensure", **WEBHOTEL)
    sandbox("database.ensure", **MARIADB)
    sandbox("maildomain.ensure", domain="alfa.dk")
    sandbox("mailbox.ensure", **MAILBOX)
    sandbox("alias.ensure", **ALIAS)
    before = tree(sandbox.root)
    assert message in sandbox(action, ok=False, **params)["error"]
    assert tree(sandbox.root) == before


@pytest.mark.parametrize(
    ("request_text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"profile": "windows", "root": "/tmp", "action": "state.show"}', "unknown profile"),
        ('{"profile": "sandbox", "root": "srv", "action": "state.show"}', "invalid root"),
        ('{"profile": "sandbox", "action": "state.show"}', "invalid root"),
        (
            '{"profile": "sandbox", "root": "/tmp", "action": "state.show", "x": 1}',
            "unknown request",
        ),
    ],
)
def test_bad_requests_are_refused(request_text, message):
    assert message in run_agent(request_text, ok=False)["error"]


def test_symlinks_out_of_the_root_are_refused(sandbox, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    sandbox.root.mkdir()
    (sandbox.root / "webhotels").symlink_to(outside)
    (sandbox.root / "mail").symlink_to(outside)
    assert "symlink" in sandbox("webhotel.ensure", ok=False, **WEBHOTEL)["error"]
    assert "symlink" in sandbox("maildomain.ensure", ok=False, domain="alfa.dk")["error"]
    assert list(outside.iterdir()) == []


# --- debian, render-only -------------------------------------------------------------------------


def test_debian_every_action_twice_changes_nothing(debian, tmp_path):
    everything(debian, tmp_path)
    root = debian.root
    assert (root / "var/www/alfa/public_html/index.html").is_file()
    assert (root / "etc/nginx/sites-enabled/havn-alfa.conf").resolve() == (
        root / "etc/nginx/sites-available/havn-alfa.conf"
    )
    assert (root / "etc/php/8.2/fpm/pool.d/havn-alfa.conf").is_file()
    assert (root / "etc/dovecot/havn-passwd").is_file()
    assert (root / "var/vmail/alfa.dk/info/Maildir/new").is_dir()
    assert stat.S_IMODE((root / "etc/ssl/havn/alfa.dk/privkey.pem").stat().st_mode) == 0o600
    # render-only runs nothing, and plans reloads only when something changed
    planned = debian("webhotel.ensure", **{**WEBHOTEL, "php_version": "8.3"})["planned"]
    assert {"argv": ["systemctl", "reload", "php8.3-fpm"]} in planned
    assert {"argv": ["systemctl", "reload", "php8.2-fpm"]} in planned
    assert not (root / "etc/php/8.2/fpm/pool.d/havn-alfa.conf").exists()
    assert "planned" not in debian("webhotel.ensure", **{**WEBHOTEL, "php_version": "8.3"})
    assert debian.state()["certificates"][0]["domain"] == "alfa.dk"

    debian.twice("webhotel.remove", system_user="alfa")
    for gone in (
        "var/www/alfa",
        "etc/nginx/sites-enabled/havn-alfa.conf",
        "etc/nginx/sites-available/havn-alfa.conf",
        "etc/ssl/havn/alfa.dk",
        "etc/php/8.3/fpm/pool.d/havn-alfa.conf",
        "var/lib/havn/webhotels/alfa.json",
    ):
        assert not os.path.lexists(root / gone), gone


def test_apply_runs_the_commands_and_undoes_files_when_one_fails(debian, tmp_path):
    """apply=true with stand-ins for nginx and systemctl: the commands run in order, and when
    nginx -t refuses, every file the action wrote is put back as it was."""
    debian("webhotel.ensure", **WEBHOTEL)
    bin_dir, log = tmp_path / "bin", tmp_path / "commands.log"
    bin_dir.mkdir()
    for name in ("nginx", "systemctl"):
        (bin_dir / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\nexit $FAIL_{name}\n')
        (bin_dir / name).chmod(0o755)
    debian.request["apply"] = True
    debian.env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    fullchain, key, _ = self_signed(tmp_path, "alfa.dk")
    install = {
        "system_user": "alfa",
        "domain": "alfa.dk",
        "fullchain_pem": fullchain,
        "key_pem": key,
    }
    site = debian.root / "etc/nginx/sites-available/havn-alfa.conf"
    before = site.read_text()

    debian.env.update(FAIL_nginx="1", FAIL_systemctl="0")
    assert "nginx -t -q failed" in debian("certificate.install", ok=False, **install)["error"]
    assert site.read_text() == before
    assert list((debian.root / "etc/ssl/havn/alfa.dk").iterdir()) == []
    assert log.read_text() == "nginx -t -q\n"

    debian.env.update(FAIL_nginx="0")
    log.unlink()
    assert "planned" not in debian("certificate.install", **install)
    assert log.read_text() == "nginx -t -q\nsystemctl reload nginx\n"
    assert "listen 443 ssl" in site.read_text()


def nginx_test(root: Path, tmp_path: Path):
    nginx = tool("nginx", "nginx-light")
    conf = tmp_path / "nginx-test"
    conf.mkdir(parents=True)
    params = Path("/etc/nginx/fastcgi_params")
    (conf / "fastcgi_params").write_text(params.read_text() if params.exists() else "")
    temp = " ".join(f"{kind}_temp_path {conf}/{kind};" for kind in
                    ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))  # fmt: skip
    (conf / "nginx.conf").write_text(
        f"pid {conf}/nginx.pid;\nerror_log {conf}/error.log;\nevents {{}}\n"
        f"http {{\n    {temp}\n    access_log off;\n"
        f"    include {root}/etc/nginx/sites-enabled/*;\n}}\n"
    )
    done = subprocess.run(
        [nginx, "-t", "-c", conf / "nginx.conf", "-p", conf], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return (root / "etc/nginx/sites-available/havn-alfa.conf").read_text()


def test_nginx_accepts_the_server_blocks(debian, tmp_path):
    debian("webhotel.ensure", **WEBHOTEL)
    debian("webhotel.ensure", **{**WEBHOTEL, "system_user": "beta", "domains": ["beta.dk"]})
    site = nginx_test(debian.root, tmp_path / "plain")
    assert "listen 80;" in site and "listen 443" not in site
    assert "server_name alfa.dk www.alfa.dk xn--blbrgrd-fxak7p.dk;" in site
    assert f"fastcgi_pass unix:{debian.root}/run/php/havn-alfa.sock;" in site

    fullchain, key, _ = self_signed(tmp_path, "alfa.dk")
    debian("certificate.install", system_user="alfa", domain="alfa.dk", fullchain_pem=fullchain,
           key_pem=key)  # fmt: skip
    site = nginx_test(debian.root, tmp_path / "tls")
    assert "listen 443 ssl" in site
    assert f"ssl_certificate_key {debian.root}/etc/ssl/havn/alfa.dk/privkey.pem;" in site

    debian("webhotel.ensure", **{**WEBHOTEL, "suspended": True})
    site = nginx_test(debian.root, tmp_path / "suspended")
    assert "return 503" in site and "fastcgi_pass" not in site and "listen 443 ssl" in site


def test_php_fpm_accepts_the_pool(debian, tmp_path):
    version = next((v for v in ("8.2", "8.3") if shutil.which(f"php-fpm{v}")), None)
    if version is None:
        tool("php-fpm8.2", "php8.2-fpm")
    debian("webhotel.ensure", **{**WEBHOTEL, "php_version": version})
    pool = (debian.root / f"etc/php/{version}/fpm/pool.d/havn-alfa.conf").read_text()
    assert "pm = ondemand" in pool and f"open_basedir] = {debian.root}/var/www/alfa/" in pool
    # php-fpm -t resolves the pool's user, which render-only mode does not create
    test_dir = tmp_path / "fpm"
    (test_dir / "pool.d").mkdir(parents=True)
    (test_dir / "pool.d/havn-alfa.conf").write_text(
        pool.replace("user = alfa", "user = nobody").replace("group = alfa", "group = nogroup")
    )
    (test_dir / "main.conf").write_text(
        f"[global]\npid = {test_dir}/fpm.pid\nerror_log = {test_dir}/fpm.log\n"
        f"include = {test_dir}/pool.d/*.conf\n"
    )
    done = subprocess.run(
        [f"php-fpm{version}", "-t", "-y", test_dir / "main.conf"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_postfix_maps_answer_queries(debian, tmp_path):
    postmap = tool("postmap", "postfix")
    debian("maildomain.ensure", domain="alfa.dk")
    debian("mailbox.ensure", **MAILBOX)
    debian.twice("alias.ensure", **ALIAS)
    maps = tmp_path / "maps"
    shutil.copytree(debian.root / "etc/postfix/havn", maps)

    def query(name, key):
        subprocess.run([postmap, f"hash:{maps / name}"], check=True)
        done = subprocess.run(
            [postmap, "-q", key, f"hash:{maps / name}"], capture_output=True, text=True
        )
        return done.stdout.strip()

    assert query("virtual_aliases", "salg@alfa.dk") == "info@alfa.dk,ejer@example.com"
    assert query("virtual_mailboxes", "info@alfa.dk") == "alfa.dk/info/Maildir/"
    assert query("virtual_domains", "alfa.dk") == "OK"
    assert query("virtual_domains", "beta.dk") == ""


def test_dovecot_verifies_the_written_hashes(debian):
    doveadm = tool("doveadm", "dovecot-core")
    sha512 = subprocess.run(
        ["openssl", "passwd", "-6", "hemmelig1"], capture_output=True, text=True, check=True
    ).stdout.strip()
    argon = subprocess.run(
        [doveadm, "pw", "-s", "ARGON2ID", "-p", "hemmelig2"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    boxes = {  # openssl's SHA512-CRYPT, doveadm's ARGON2ID, and Havn's own ARGON2ID
        "a@alfa.dk": ("{SHA512-CRYPT}" + sha512, "hemmelig1"),
        "b@alfa.dk": (argon, "hemmelig2"),
        "c@alfa.dk": (dovecot_hash("hemmelig3"), "hemmelig3"),
    }
    debian("maildomain.ensure", domain="alfa.dk")
    for address, (password_hash, _) in boxes.items():
        debian(
            "mailbox.ensure",
            address=address,
            password_hash=password_hash,
            quota_mb=100,
            suspended=False,
        )
    lines = (debian.root / "etc/dovecot/havn-passwd").read_text().splitlines()[1:]
    for line, (address, (_, password)) in zip(lines, sorted(boxes.items()), strict=True):
        written_address, written_hash = line.split(":")[:2]
        assert written_address == address
        check = subprocess.run(
            [doveadm, "pw", "-t", written_hash, "-p", password], capture_output=True
        )
        assert check.returncode == 0, (address, check.stderr)
        wrong = subprocess.run(
            [doveadm, "pw", "-t", written_hash, "-p", "wrong"], capture_output=True
        )
        assert wrong.returncode != 0


def test_dovecot_logs_in_active_mailboxes_only(debian):
    """A real Dovecot with Havn's passdb setup (docs/agent.md): suspended means denied."""
    tool("doveadm", "dovecot-core")
    dovecot = tool("dovecot", "dovecot-core")
    password_hash = dovecot_hash("hemmelig")
    debian("maildomain.ensure", domain="alfa.dk")
    for local, suspended in (("aktiv", False), ("lukket", True)):
        box = {"address": f"{local}@alfa.dk", "quota_mb": 100, "suspended": suspended}
        debian("mailbox.ensure", **box, password_hash=password_hash)
    base = Path(tempfile.mkdtemp(prefix="havn-dv-"))  # short: Dovecot's socket paths are limited
    try:
        base.chmod(0o755)
        for name in ("havn-passwd", "havn-passwd-deny"):
            shutil.copy(debian.root / "etc/dovecot" / name, base / name)
            (base / name).chmod(0o644)
        conf = base / "dovecot.conf"
        conf.write_text(
            f"base_dir = {base}/run\nstate_dir = {base}/state\nlog_path = {base}/dovecot.log\n"
            "protocols =\nssl = no\n"
            f"passdb {{\n  driver = passwd-file\n  args = {base}/havn-passwd-deny\n"
            "  deny = yes\n}\n"
            f"passdb {{\n  driver = passwd-file\n  args = {base}/havn-passwd\n}}\n"
            f"userdb {{\n  driver = passwd-file\n  args = {base}/havn-passwd\n"
            f"  default_fields = uid=nobody gid=nogroup home={base}/vmail/%d/%n\n}}\n"
        )
        subprocess.run([dovecot, "-c", conf], check=True)

        def login(user, password):
            return subprocess.run(
                ["doveadm", "-c", conf, "auth", "test", user, password],
                capture_output=True,
                text=True,
            ).returncode

        assert login("aktiv@alfa.dk", "hemmelig") == 0
        assert login("aktiv@alfa.dk", "forkert") != 0
        assert login("lukket@alfa.dk", "hemmelig") != 0
        user = subprocess.run(
            ["doveadm", "-c", conf, "user", "lukket@alfa.dk"], capture_output=True, text=True
        ).stdout
        assert "*:storage=100M" in user  # still a user: mail is delivered while suspended
    finally:
        subprocess.run(["doveadm", "-c", base / "dovecot.conf", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


# --- the SQL the debian profile runs, against the local servers ----------------------------------


def sql_runner(engine):
    if engine == "mariadb":
        argv = [
            tool("mysql", "mariadb-client"),
            "-uroot",
            "--batch",
            "--raw",
            "--skip-column-names",
        ]
        package = "mariadb-server"
    else:
        url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
        argv = [tool("psql", "postgresql-client"), url, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]
        package = "postgresql"
    probe = [*argv, "-c" if engine == "postgresql" else "-e", "SELECT 1"]
    if subprocess.run(probe, capture_output=True).returncode:
        pytest.skip(f"no {engine} server to run the SQL on (Debian package {package})")

    def run(sql):
        done = subprocess.run(argv, input=sql, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    return run


@pytest.mark.parametrize("engine", ["mariadb", "postgresql"])
def test_database_sql_runs_on_the_real_server(debian, engine):
    run = sql_runner(engine)
    name = f"havn_agent_{secrets.token_hex(4)}_db"
    user = name[:-3]
    verifier = (mysql_native_verifier if engine == "mariadb" else scram_sha256_verifier)("hemmelig")
    params = {"engine": engine, "name": name, "user": user}
    planned = debian("database.ensure", **params, password_verifier=verifier)["planned"]
    [ensure_sql] = [step["stdin"] for step in planned]
    [drop_sql] = [step["stdin"] for step in debian("database.remove", **params)["planned"]]
    try:
        run(ensure_sql)
        run(ensure_sql)  # idempotent on the server too
        if engine == "mariadb":
            assert "`" + name.replace("_", "\\_") + "`.*" in run(
                f"SHOW GRANTS FOR '{user}'@'localhost'"
            )
            login = subprocess.run(
                ["mysql", f"-u{user}", "-phemmelig", name, "-e", "SELECT 1"],
                capture_output=True,
                text=True,
            )
            assert login.returncode == 0, login.stderr
        else:
            password = f"SELECT rolpassword FROM pg_authid WHERE rolname = '{user}'"  # noqa: S608
            owner = f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{name}'"  # noqa: S608
            assert run(password) == verifier and run(owner) == user
    finally:
        run(drop_sql)
    run(drop_sql)
    if engine == "mariadb":
        left = f"SELECT COUNT(*) FROM mysql.user WHERE user = '{user}'"  # noqa: S608
    else:
        left = f"SELECT COUNT(*) FROM pg_roles WHERE rolname = '{user}'"  # noqa: S608
    assert run(left) == "0"
