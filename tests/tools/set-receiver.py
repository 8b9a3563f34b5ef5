#!/usr/bin/env python3
"""A test receiver for resetguard-syncd's HTTP hooks (CAEP push and webhook).

Listens on 127.0.0.1 (plain HTTP, or HTTPS with --cert/--key), records every request as one
JSON line in --log ({"method","path","version","headers","body","verify"}), and answers as
told:

  --mode 202|200|204|400|401|500  the status to send (400 carries an RFC 8935 error body)
  --err CODE                   the "err" of that 400 body (default invalid_request)
  --delay SECONDS              wait before answering (timeouts)

Verification, recorded in "verify" ("ok" or the reason; null when not asked for):

  --verify-key PUB.pem         a body of type application/secevent+jwt must be a SET
                               (RFC 8417) as resetguard sends it: typ secevent+jwt, alg ES256,
                               iss aud iat jti txn sub_id and exactly one event, no sub/exp,
                               and an ES256 signature that `openssl dgst` verifies with the
                               key; --expect-iss/--expect-aud/--expect-kid pin those values
  --hmac-secret FILE           X-Resetguard-Signature must be sha256=<hex HMAC-SHA256 of the
                               body> under the first line of FILE

  --events FILE                with --verify-key: each verified SET's event appended to FILE
                               as one JSON line: {"received","event" (its short name, e.g.
                               credential-change),"event_type","iss","aud","iat","jti","txn",
                               "sub_id","claims" (the event's own members)}

A request that fails verification is answered 400 {"err":"invalid_request",...} (SET) or
401 (webhook) whatever --mode says, so the sender sees it too. --port 0 picks a free port;
--port-file receives it once the socket listens (written atomically).
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time

SET_TYPE = "application/secevent+jwt"


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def der_int(b):
    b = b.lstrip(b"\0") or b"\0"
    if b[0] & 0x80:
        b = b"\0" + b
    return b"\x02" + bytes([len(b)]) + b


def es256_to_der(raw):
    """JWS ES256 signatures are R||S (RFC 7518 3.4); openssl wants an ASN.1 sequence."""
    body = der_int(raw[:32]) + der_int(raw[32:])
    return b"\x30" + bytes([len(body)]) + body


def openssl_verify(pubkey, data, der_sig):
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "data"), "wb") as f:
            f.write(data)
        with open(os.path.join(d, "sig"), "wb") as f:
            f.write(der_sig)
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pubkey, "-signature",
                            os.path.join(d, "sig"), os.path.join(d, "data")],
                           capture_output=True)
        return r.returncode == 0


def verify_set(token, opts):
    parts = token.split(".")
    if len(parts) != 3:
        return "not a compact JWS"
    try:
        hdr = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        sig = b64url_decode(parts[2])
    except ValueError as e:
        return "undecodable: %s" % e
    if hdr.get("typ") != "secevent+jwt":
        return "header typ is %r" % hdr.get("typ")
    if hdr.get("alg") != "ES256":
        return "header alg is %r" % hdr.get("alg")
    if opts.expect_kid is not None and hdr.get("kid") != opts.expect_kid:
        return "header kid is %r" % hdr.get("kid")
    for c in ("iss", "aud", "iat", "jti", "txn", "sub_id", "events"):
        if c not in claims:
            return "claim %s missing" % c
    for c in ("sub", "exp"):
        if c in claims:
            return "claim %s must not be present" % c
    if not isinstance(claims["iat"], int):
        return "iat is not an integer"
    if not isinstance(claims["sub_id"], dict) or "format" not in claims["sub_id"]:
        return "sub_id is not a subject identifier"
    if not isinstance(claims["events"], dict) or len(claims["events"]) != 1:
        return "events must hold exactly one event"
    if opts.expect_iss is not None and claims["iss"] != opts.expect_iss:
        return "iss is %r" % claims["iss"]
    if opts.expect_aud is not None and claims["aud"] != opts.expect_aud:
        return "aud is %r" % claims["aud"]
    if len(sig) != 64:
        return "ES256 signature is not 64 bytes"
    signed = (parts[0] + "." + parts[1]).encode()
    if not openssl_verify(opts.verify_key, signed, es256_to_der(sig)):
        return "signature does not verify"
    return "ok"


def event_line(token):
    """The verified SET's one event, as a line for --events."""
    claims = json.loads(b64url_decode(token.split(".")[1]))
    etype, payload = next(iter(claims["events"].items()))
    return json.dumps({
        "received": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "event": etype.rsplit("/", 1)[-1], "event_type": etype,
        "iss": claims["iss"], "aud": claims["aud"], "iat": claims["iat"],
        "jti": claims["jti"], "txn": claims["txn"], "sub_id": claims["sub_id"],
        "claims": payload})


def verify_hmac(body, headers, secret):
    got = headers.get("X-Resetguard-Signature", "")
    want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return "ok" if hmac.compare_digest(got, want) else "bad signature %r" % got


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the JSON log is the record
        pass

    def setup(self):
        # The handshake runs here, in the request's thread: a client that stalls it (or a
        # test client rejecting our certificate) must not block the accepting thread.
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
        super().setup()

    def do_POST(self):
        opts = self.server.opts
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        ctype = self.headers.get("Content-Type", "")
        verify = None
        if opts.verify_key and ctype == SET_TYPE:
            verify = verify_set(body.decode("ascii", "replace"), opts)
        elif opts.hmac_secret is not None:
            verify = verify_hmac(body, self.headers, opts.hmac_secret)
        rec = {"method": "POST", "path": self.path, "version": self.request_version,
               "headers": {k: v for k, v in self.headers.items()},
               "body": body.decode("utf-8", "replace"), "verify": verify}
        with self.server.lock:
            with open(opts.log, "a") as f:
                f.write(json.dumps(rec) + "\n")
            if opts.events and verify == "ok" and ctype == SET_TYPE:
                with open(opts.events, "a") as f:
                    f.write(event_line(body.decode("ascii")) + "\n")
        if opts.delay:
            time.sleep(opts.delay)
        status, out = opts.mode, b""
        if verify not in (None, "ok"):
            status = 400 if ctype == SET_TYPE else 401
            out = json.dumps({"err": "invalid_request", "description": verify}).encode()
        elif status == 400:
            out = json.dumps({"err": opts.err,
                              "description": "the test receiver was told to refuse"}).encode()
        elif status == 500:
            out = b"internal error (as told)"
        self.send_response(status)
        if out:
            self.send_header("Content-Type", "application/json" if status == 400 else
                             "text/plain")
        self.send_header("Content-Length", str(len(out)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(out)
        self.close_connection = True


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--log", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--mode", type=int, default=202, choices=(200, 202, 204, 400, 401, 500))
    p.add_argument("--err", default="invalid_request")
    p.add_argument("--delay", type=float, default=0)
    p.add_argument("--verify-key")
    p.add_argument("--expect-iss")
    p.add_argument("--expect-aud")
    p.add_argument("--expect-kid")
    p.add_argument("--hmac-secret")
    p.add_argument("--events")
    opts = p.parse_args()
    if opts.hmac_secret is not None:
        with open(opts.hmac_secret, "rb") as f:
            opts.hmac_secret = f.readline().rstrip(b"\r\n")

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
    srv.daemon_threads = True
    # One line per failed connection (e.g. a client refusing our certificate), no traceback.
    srv.handle_error = lambda request, addr: sys.stderr.write(
        "connection from %s failed: %s\n" % (addr[0], sys.exc_info()[1]))
    srv.opts = opts
    srv.lock = threading.Lock()
    if opts.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(opts.cert, opts.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True,
                                     do_handshake_on_connect=False)
    if opts.port_file:
        tmp = opts.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(tmp, opts.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
