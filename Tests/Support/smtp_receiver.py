"""A real SMTP receiver that is not ours (aiosmtpd), for outbound delivery tests.

Usage: python3 smtp_receiver.py PORT OUTDIR TEMPFAILS [CERTFILE KEYFILE]
With CERTFILE and KEYFILE (PEM) it offers STARTTLS with that certificate.
Recipients decide the behaviour by their local part:
  reject*    -> RCPT answered 550 5.1.1
  tempfail*  -> RCPT answered 451 4.3.0 for the first TEMPFAILS attempts (per address), then accepted
  other      -> accepted
Each accepted message is written to OUTDIR/<n>.eml, with OUTDIR/<n>.json holding the envelope.
With RECEIVER_REQUIRETLS=1 in the environment it offers REQUIRETLS (RFC 8689) once TLS is up and accepts the
parameter on MAIL (it is kept in mail_options).
Prints READY once listening; runs until killed.
"""
import json
import os
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

REQUIRETLS = os.environ.get('RECEIVER_REQUIRETLS') == '1'


class RequireTlsSMTP(SMTP):
    """aiosmtpd refuses MAIL parameters it does not know (555); REQUIRETLS is taken off the checked set, only under TLS."""

    def _getparams(self, params):
        result = super()._getparams(params)
        if result is not None and 'REQUIRETLS' in result:
            if result.pop('REQUIRETLS') is not True or self._tls_protocol is None:
                return None
        return result


class ReceiverController(Controller):
    def factory(self):
        return RequireTlsSMTP(self.handler, **self.SMTP_kwargs) if REQUIRETLS else SMTP(self.handler, **self.SMTP_kwargs)


class Handler:
    def __init__(self, outdir, tempfails):
        self.outdir = outdir
        self.tempfails = tempfails
        self.seen = {}
        self.count = 0
        self.lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if REQUIRETLS and session.ssl is not None:
            responses.insert(len(responses) - 1, '250-REQUIRETLS')
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split('@', 1)[0].lower()
        if local.startswith('reject'):
            return '550 5.1.1 <%s>: Recipient address rejected: User unknown' % address
        if local.startswith('tempfail'):
            with self.lock:
                n = self.seen.get(address, 0)
                self.seen[address] = n + 1
            if n < self.tempfails:
                return '451 4.3.0 <%s>: Temporary failure, try again later' % address
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return '250 2.1.5 OK'

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        base = os.path.join(self.outdir, '%06d' % n)
        with open(base + '.eml.tmp', 'wb') as f:
            f.write(envelope.original_content)
        with open(base + '.json', 'w') as f:
            json.dump({'mail_from': envelope.mail_from, 'rcpt_tos': envelope.rcpt_tos,
                       'mail_options': envelope.mail_options, 'rcpt_options': envelope.rcpt_options,
                       'tls': session.ssl is not None}, f)
        os.rename(base + '.eml.tmp', base + '.eml')
        return '250 2.0.0 Message accepted for delivery'


def main():
    port, outdir, tempfails = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    tls = {}
    if len(sys.argv) > 5:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[4], sys.argv[5])
        tls = {'tls_context': context}
    controller = ReceiverController(Handler(outdir, tempfails), hostname=os.environ.get('RECEIVER_HOST', '127.0.0.1'), port=port,
                            enable_SMTPUTF8=True, server_hostname='remote.test', **tls)
    controller.start()
    print('READY', flush=True)
    threading.Event().wait()


if __name__ == '__main__':
    main()
