"""Running the Havn agent (infra/agent/havn_agent.py) on a server: over SSH, or locally.

The agent is copied to the server under a name that carries its hash, so a changed agent is
copied again and an unchanged one is not; it reads one JSON request on stdin and answers JSON.
"""

import hashlib
import json
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

from django.conf import settings

from hosting.models import Server
from infra import ssh

AGENT = Path(settings.BASE_DIR) / "infra" / "agent" / "havn_agent.py"
AGENT_TIMEOUT = 300


class AgentError(Exception):
    """The agent refused or failed an action; the message is readable by staff and customers."""


@cache
def _agent() -> tuple[bytes, str]:
    code = AGENT.read_bytes()
    return code, f".havn/havn_agent-{hashlib.sha256(code).hexdigest()[:16]}.py"


def ssh_target(server: Server) -> ssh.SshTarget:
    if not server.host_key or server.host_key_confirmed_at is None:
        raise AgentError(f"{server.name}: the host key is not confirmed; staff must confirm it.")
    return ssh.SshTarget(
        host=server.address,
        port=server.ssh_port,
        user=server.ssh_user,
        host_key=server.host_key,
        private_key_path=settings.HAVN_SSH_KEY_FILE,
    )


def request_for(server: Server, action: str, params: dict) -> dict:
    sandbox = server.profile == Server.Profile.SANDBOX
    return {
        "profile": server.profile,
        "root": server.root if sandbox else "/",
        "apply": True,
        "action": action,
        "params": params,
    }


def _answer(exit_status: int, stdout: bytes, stderr: bytes) -> dict:
    try:
        answer = json.loads(stdout)
    except ValueError:
        raise AgentError(
            f"The agent failed (exit {exit_status}): {stderr.decode(errors='replace')[-500:]}"
        ) from None
    if exit_status != 0 or not answer.get("ok"):
        raise AgentError(answer.get("error") or f"The agent failed (exit {exit_status}).")
    return answer


def run_agent(server: Server, action: str, params: dict) -> dict:
    """Run one agent action on the server and return its answer (``changed``, ``result``).

    Raises AgentError when the action fails, ssh.TransientSshError when the server could not be
    reached (worth retrying), and other ssh.SshError for permanent SSH problems (host key, auth).
    """
    request = json.dumps(request_for(server, action, params)).encode()
    if server.transport == Server.Transport.LOCAL:
        done = subprocess.run(  # noqa: S603 -- our interpreter and our agent, no shell
            [sys.executable, str(AGENT)],
            input=request,
            capture_output=True,
            timeout=AGENT_TIMEOUT,
            check=False,
        )
        return _answer(done.returncode, done.stdout, done.stderr)
    code, remote = _agent()
    with ssh.pool.session(ssh_target(server)) as client:
        if client.run(f"test -f {shlex.quote(remote)}", timeout=30).exit_status != 0:
            client.run_checked("mkdir -p .havn && chmod 700 .havn", timeout=30)
            client.put_file(code, remote, mode=0o700)
        result = client.run(f"python3 {shlex.quote(remote)}", stdin=request, timeout=AGENT_TIMEOUT)
    return _answer(result.exit_status, result.stdout, result.stderr)
