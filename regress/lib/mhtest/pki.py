# Copyright (c) 2026 The mailhook authors
# SPDX-License-Identifier: ISC (see the file LICENSE)
"""A test CA and its leaves, made with the openssl command (P-256 keys).

    from mhtest.pki import TestCA
    ca = TestCA(tmpdir)
    chain, key = ca.leaf("mx", ["mx.good.test", "mx.ta.test"])
    ca.pem, ca.spki_sha256(key), ca.cert_sha512()
"""
import hashlib
import os
import subprocess


def openssl(*args):
    return subprocess.run(["openssl"] + list(args), check=True,
                          capture_output=True).stdout


class TestCA:
    def __init__(self, d):
        self.dir = d
        self.key = os.path.join(d, "ca.key")
        self.pem = os.path.join(d, "ca.pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.key,
                "-out", self.pem, "-days", "2", "-subj",
                "/CN=mailhook test CA", "-addext",
                "basicConstraints=critical,CA:TRUE", "-addext",
                "keyUsage=critical,keyCertSign")

    def leaf(self, name, names):
        """(chain file: the leaf then the CA, key file)"""
        p = os.path.join(self.dir, name)
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", p + ".key", "-out", p + ".csr",
                "-subj", "/CN=" + name)
        with open(p + ".ext", "w") as f:
            f.write("subjectAltName=" + ",".join("DNS:" + n for n in names) +
                    "\nbasicConstraints=CA:FALSE\n")
        openssl("x509", "-req", "-in", p + ".csr", "-CA", self.pem, "-CAkey",
                self.key, "-CAcreateserial", "-out", p + ".pem", "-days",
                "2", "-extfile", p + ".ext")
        with open(p + ".chain", "w") as f:
            f.write(open(p + ".pem").read() + open(self.pem).read())
        return p + ".chain", p + ".key"

    @staticmethod
    def spki_sha256(key):
        """the hex SHA-256 of key's SubjectPublicKeyInfo (TLSA 3 1 1)"""
        return hashlib.sha256(openssl("pkey", "-in", key, "-pubout",
                                      "-outform", "DER")).hexdigest()

    def cert_sha512(self):
        """the hex SHA-512 of the CA certificate (TLSA 2 0 2)"""
        return hashlib.sha512(openssl("x509", "-in", self.pem, "-outform",
                                      "DER")).hexdigest()
