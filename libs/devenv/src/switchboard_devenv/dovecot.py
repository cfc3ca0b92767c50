"""A real Dovecot IMAP server on loopback, for tests and the local gateway (Debian package ``dovecot-imapd``).

Dovecot runs in the foreground (``dovecot -F -c FILE``) with a configuration of its own: loopback
ports, its own base and state folders, Maildir storage in a folder of its own. Any user name logs in
with the server's one password (a static passdb), so every test can have a mailbox of its own without
reconfiguring the running server (Dovecot re-reads a passwd-file only now and then). TLS is
optional: the IMAP port offers STARTTLS and a second port implicit TLS, with a self-signed
certificate for 127.0.0.1 made by ``openssl`` (``cert_path`` is what clients trust); plain-text
login is allowed without TLS too.
As root, Dovecot's login and internal processes run as the package's ``dovecot`` and ``dovenull``
users, so the folders are made accessible to them; as another user everything runs as that user.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from switchboard_devenv.certificates import self_signed_certificate
from switchboard_devenv.processes import free_port

DOVECOT_BINARY_CANDIDATES = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")


def dovecot_binary() -> str | None:
    """Path of the ``dovecot`` binary, or None when Dovecot is not installed."""
    found = shutil.which("dovecot")
    if found:
        return found
    return next((c for c in DOVECOT_BINARY_CANDIDATES if os.access(c, os.X_OK)), None)


@dataclass(frozen=True, slots=True)
class ImapAccount:
    """A mailbox account on the test server."""

    host: str
    port: int
    username: str
    password: str


class DovecotServer:
    """One Dovecot instance listening on 127.0.0.1:<port> with its own data folder."""

    def __init__(self, root: Path | None = None, *, port: int | None = None, password: str | None = None) -> None:
        binary = dovecot_binary()
        if binary is None:
            raise FileNotFoundError("dovecot is not installed (Debian package dovecot-imapd)")
        self.binary = binary
        self._own_root = root is None
        # Not under pytest's tmp_path: that is private to its owner, and Dovecot's own users must reach it.
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="switchboard-dovecot-"))
        self.port = port or free_port()
        self.tls_port = free_port()
        self.tls_enabled = False
        self.host = "127.0.0.1"
        self._process: subprocess.Popen[bytes] | None = None
        self.password = password or secrets.token_hex(16)
        as_root = os.geteuid() == 0
        if as_root:
            self.mail_user = "dovecot"
            self.login_user = "dovenull"
        else:
            self.mail_user = self.login_user = getpass.getuser()
        self._mail_uid = pwd.getpwnam(self.mail_user).pw_uid
        self._mail_gid = pwd.getpwnam(self.mail_user).pw_gid

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def cert_path(self) -> Path:
        return self.root / "tls" / "cert.pem"

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def mail_root(self) -> Path:
        return self.root / "mail"

    def _write_config(self) -> None:
        for folder in (self.root, self.mail_root, self.root / "state", self.root / "run"):
            folder.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        closed = [p for p in self.root.resolve().parents if not p.stat().st_mode & 0o001]
        if closed and os.geteuid() == 0:
            raise RuntimeError(
                f"Dovecot's mail user {self.mail_user} cannot reach {self.root}: {closed[0]} is not searchable "
                "by others (chmod o+x it, or put the server somewhere else)"
            )
        os.chown(self.mail_root, self._mail_uid, self._mail_gid)
        self.mail_root.chmod(0o750)
        tls = self_signed_certificate(self.cert_path.parent) is not None
        self.tls_enabled = tls
        tls_config = (
            f"ssl = yes\nssl_cert = <{self.cert_path}\nssl_key = <{self.cert_path.parent / 'key.pem'}\n"
            if tls
            else "ssl = no\n"
        )
        self.config_path.write_text(
            f"""# Written by switchboard_devenv.dovecot for tests and the local gateway.
protocols = imap
listen = {self.host}
base_dir = {self.root / "run"}
state_dir = {self.root / "state"}
instance_name = switchboard-{self.port}
log_path = {self.log_path}
info_log_path = {self.log_path}
{tls_config}disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {self.mail_user}
default_login_user = {self.login_user}
first_valid_uid = {min(self._mail_uid, 1)}
first_valid_gid = {min(self._mail_gid, 1)}
mail_location = maildir:{self.mail_root}/%n
mail_uid = {self._mail_uid}
mail_gid = {self._mail_gid}
passdb {{
  driver = static
  args = password={self.password}
}}
userdb {{
  driver = static
  args = uid={self._mail_uid} gid={self._mail_gid} home={self.mail_root}/%n
}}
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {self.host}
    port = {self.tls_port if tls else 0}
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
imap_idle_notify_interval = 1 mins
protocol imap {{
  mail_max_userip_connections = 50
}}
"""
        )

    def start(self, timeout: float = 30.0) -> DovecotServer:
        self._write_config()
        log = open(self.root / "dovecot.stdout", "ab")  # noqa: SIM115  (closed by the child's exit)
        self._process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"dovecot exited with {self._process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=1) as conn:
                if conn.recv(256).startswith(b"* OK"):
                    return self
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"dovecot did not answer on {self.host}:{self.port}:\n{self.log_tail()}")

    def account(self, username: str) -> ImapAccount:
        """A mailbox account of its own (its Maildir is made at the first login), with the server's password."""
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", username):
            raise ValueError("user names are letters, digits, '.', '_' and '-'")
        return ImapAccount(self.host, self.port, username, self.password)

    def maildir(self, username: str) -> Path:
        return self.mail_root / username

    def log_tail(self, lines: int = 30) -> str:
        texts = []
        for name in ("dovecot.stdout", "dovecot.log"):
            with contextlib.suppress(OSError):
                texts.extend((self.root / name).read_text("utf-8", "replace").splitlines()[-lines:])
        return "\n".join(texts)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self._process = None

    def cleanup(self) -> None:
        self.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
