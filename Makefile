PY := .venv/bin/python
# Message catalogues need settings but no services: the zero-setup dev settings will do.
MANAGE_DEV := HAVN_ENV=dev $(PY) manage.py
PYTEST_ARGS ?=
BENCH_ARGS ?=
API_BENCH_ARGS ?=
FLEET_ARGS ?=
SYSDEPS := openssh-server chromium postgresql redis-server gettext nginx php8.2-fpm postfix \
	dovecot-core openssl mariadb-client postgresql-client prometheus

.PHONY: venv sysdeps test lint deploy-check run messages bench fleet

venv: .venv/.installed

# Reinstalls only when the lock file changes.
.venv/.installed: requirements.lock
	test -x $(PY) || python3.11 -m venv .venv
	test -x .venv/bin/uv || $(PY) -m pip install --quiet uv
	.venv/bin/uv pip install -p $(PY) -r requirements.lock
	touch $@

sysdeps:
	@missing=; \
	test -x /usr/sbin/sshd || missing=1; \
	test -x /usr/bin/chromium || missing=1; \
	command -v redis-server >/dev/null || missing=1; \
	command -v msgfmt >/dev/null || missing=1; \
	for tool in nginx php-fpm8.2 postmap doveadm openssl mysql psql promtool; do \
		command -v $$tool >/dev/null || test -x /usr/sbin/$$tool || missing=1; \
	done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing=1; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(SYSDEPS); \
		else \
			echo "Missing system packages. Run:" >&2; \
			echo "  sudo apt-get install -y $(SYSDEPS)" >&2; \
			exit 1; \
		fi; \
	fi

test: venv sysdeps
	if [ -d locale ]; then $(MANAGE_DEV) compilemessages --ignore=.venv; fi
	scripts/with-services .venv/bin/pytest $(PYTEST_ARGS)

lint: venv
	.venv/bin/ruff check . scripts/with-services

deploy-check: venv
	HAVN_ENV=production \
	HAVN_SECRET_KEY=$$(python3 -c 'import secrets;print(secrets.token_urlsafe(50))') \
	HAVN_ALLOWED_HOSTS=panel.havn.example \
	HAVN_DATA_KEYS=$$(python3 -c 'import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())') \
	HAVN_PLATFORM_KEYS=k1:$$(python3 -c 'import base64,os;print(base64.b64encode(os.urandom(32)).decode())') \
	DATABASE_URL=postgres://havn@127.0.0.1/havn \
	REDIS_URL=redis://127.0.0.1:6379/0 \
	HAVN_OBJECTSTORE_URL=s3://havn-backups \
	$(PY) manage.py check --deploy --fail-level WARNING

run: venv
	$(MANAGE_DEV) run_embedded

messages: venv
	$(MANAGE_DEV) makemessages -l da --ignore=.venv --ignore=tests
	$(MANAGE_DEV) compilemessages --ignore=.venv

# Havn against restic on a generated 1.2 GB tree (bench/backup_bench.py), then the API under load
# (bench/api_bench.py: gunicorn with production settings on a seeded database of its own, driven by
# wrk; PostgreSQL and Redis from DATABASE_URL/REDIS_URL or throw-away ones). Both write
# bench/results.json and docs/benchmarks.md. restic, sshd and wrk come from Debian.
bench: venv sysdeps
	@if ! command -v restic >/dev/null || ! test -x /usr/sbin/sshd || ! command -v wrk >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
				restic openssh-server openssh-client wrk; \
		else \
			echo "Missing system packages. Run:" >&2; \
			echo "  sudo apt-get install -y restic openssh-server openssh-client wrk" >&2; \
			exit 1; \
		fi; \
	fi
	$(PY) -m bench.backup_bench $(BENCH_ARGS)
	scripts/with-services $(PY) -m bench.api_bench $(API_BENCH_ARGS)

# The night of a whole fleet on paper: the real planner over a seeded database of 2,000 servers and
# 100,000 webhotels, then the night played with the measured costs (bench/fleet.py). Writes
# bench/results.json ("fleet") and docs/benchmarks.md.
fleet: venv
	scripts/with-services $(PY) -m bench.fleet $(FLEET_ARGS)
