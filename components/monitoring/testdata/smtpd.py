"""An SMTP submission server for the Alertmanager test: aiosmtpd (Debian's
python3-aiosmtpd) with STARTTLS required and AUTH required before MAIL, as
Exchange Online and Azure Communication Services behave on port 587
(RFC 6409 4.3, RFC 4954), offering AUTH LOGIN with the challenges those
servers send ("Username:", "Password:"; aiosmtpd's own default is
"User Name\0", which Alertmanager's LOGIN refuses as an unexpected
challenge). Each accepted message is written to OUTDIR as JSON.
Usage: smtpd.py PORT CERT KEY OUTDIR USER PASSWORD"""
import json
import os
import signal
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

port = int(sys.argv[1])
cert, key, outdir, user, password = sys.argv[2:7]


class Handler:
    async def handle_DATA(self, server, session, envelope):
        name = os.path.join(outdir, "%d.json" % len(os.listdir(outdir)))
        with open(name + ".tmp", "w") as f:
            json.dump({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                       "authenticated": bool(session.authenticated),
                       "data": envelope.content.decode("utf-8", "replace")}, f)
        os.rename(name + ".tmp", name)
        return "250 2.0.0 OK queued"


class Submission(SMTP):
    AuthLoginUsernameChallenge = "Username:"
    AuthLoginPasswordChallenge = "Password:"


class SubmissionController(Controller):
    def factory(self):
        return Submission(self.handler, **self.SMTP_kwargs)


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login.decode() == user
          and auth_data.password.decode() == password)
    return AuthResult(success=ok, handled=False)


tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
tls.load_cert_chain(cert, key)
controller = SubmissionController(Handler(), hostname="127.0.0.1", port=port,
                        tls_context=tls, require_starttls=True,
                        auth_required=True, auth_require_tls=True,
                        authenticator=authenticator,
                        auth_exclude_mechanism=["PLAIN"])
controller.start()
print("ready", flush=True)
signal.sigwait([signal.SIGTERM, signal.SIGINT])
controller.stop()
