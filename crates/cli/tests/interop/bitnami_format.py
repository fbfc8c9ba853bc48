#!/usr/bin/env python3
"""An independent implementation of the Bitnami SealedSecret format, for interop tests.

Written from the format description (bitnami-labs/sealed-secrets pkg/crypto/crypto.go), using
only Python's `cryptography` package, so that sealkit's output is checked by code that shares
nothing with it:

    blob = u16 BE len(rsa) || RSA-OAEP(SHA-256, MGF1-SHA-256, label)(session key)
           || AES-256-GCM(session key, nonce = 12 zero bytes, no AAD)(plaintext)
    label = "<ns>/<name>" (strict) | "<ns>" (namespace-wide) | "" (cluster-wide)

Usage:
    bitnami_format.py seal CERT.pem < secret.json > sealedsecret.json
    bitnami_format.py unseal KEY.pem < sealedsecret.json > secret.json
    bitnami_format.py keygen DIR        (tls.key PKCS#1 + tls.crt, Bitnami-shaped cert)
Objects are JSON or YAML on stdin; output is JSON.
"""
import base64
import datetime
import json
import os
import struct
import sys

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

CLUSTER_WIDE = "sealedsecrets.bitnami.com/cluster-wide"
NAMESPACE_WIDE = "sealedsecrets.bitnami.com/namespace-wide"


def label_for(meta):
    ann = meta.get("annotations") or {}
    ns, name = meta.get("namespace", ""), meta.get("name", "")
    if ann.get(CLUSTER_WIDE) == "true":
        return b""
    if ann.get(NAMESPACE_WIDE) == "true":
        return ns.encode()
    return f"{ns}/{name}".encode()


def oaep(label):
    return padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=label or None)


def seal_value(public_key, label, plaintext):
    session_key = os.urandom(32)
    rsa_ct = public_key.encrypt(session_key, oaep(label))
    aes_ct = AESGCM(session_key).encrypt(b"\0" * 12, plaintext, None)
    return base64.b64encode(struct.pack(">H", len(rsa_ct)) + rsa_ct + aes_ct).decode()


def unseal_value(private_key, label, b64):
    blob = base64.b64decode(b64)
    (n,) = struct.unpack(">H", blob[:2])
    session_key = private_key.decrypt(blob[2 : 2 + n], oaep(label))
    return AESGCM(session_key).decrypt(b"\0" * 12, blob[2 + n :], None)


def read_object():
    return yaml.safe_load(sys.stdin.read())


def cmd_seal(cert_path):
    with open(cert_path, "rb") as f:
        public_key = x509.load_pem_x509_certificate(f.read()).public_key()
    secret = read_object()
    meta = dict(secret.get("metadata") or {})
    meta.setdefault("namespace", "default")
    items = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
    items.update({k: v.encode() for k, v in (secret.get("stringData") or {}).items()})
    label = label_for(meta)
    ann = {k: v for k, v in (meta.get("annotations") or {}).items() if k in (CLUSTER_WIDE, NAMESPACE_WIDE)}
    top = {"name": meta["name"], "namespace": meta["namespace"]}
    if ann:
        top["annotations"] = ann
    out = {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": top,
        "spec": {
            "encryptedData": {k: seal_value(public_key, label, v) for k, v in sorted(items.items())},
            "template": {"metadata": meta, "type": secret.get("type", "Opaque")},
        },
    }
    json.dump(out, sys.stdout, indent=2)


def cmd_unseal(key_path):
    with open(key_path, "rb") as f:
        private_key = serialization.load_pem_private_key(f.read(), password=None)
    sealed = read_object()
    meta = sealed["metadata"]
    label = label_for(meta)
    data = {k: base64.b64encode(unseal_value(private_key, label, v)).decode() for k, v in sealed["spec"]["encryptedData"].items()}
    template = sealed["spec"].get("template") or {}
    out = {"apiVersion": "v1", "kind": "Secret", "metadata": template.get("metadata") or {}, "data": data}
    if "type" in template:
        out["type"] = template["type"]
    json.dump(out, sys.stdout, indent=2)


def cmd_keygen(directory):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "python")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "python")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=int(os.environ.get("VALID_DAYS", "30"))))
        .sign(key, hashes.SHA256())
    )
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "tls.key"), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    with open(os.path.join(directory, "tls.crt"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


if __name__ == "__main__":
    {"seal": cmd_seal, "unseal": cmd_unseal, "keygen": cmd_keygen}[sys.argv[1]](sys.argv[2])
