"""cohort_flare.job_manifest against docs/protocol.md section 5: the test vector read from the document,
signing and verifying with a project root made here, and the refusals the console makes.
Interop with the TypeScript verifier: test/pki/job-manifest-signers.test.ts."""

import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID
except ImportError:  # the TypeScript runner requires it (requireSystem), so CI does not skip this
    raise unittest.SkipTest("python3-cryptography is not installed: apt-get install python3-cryptography")

from cohort_flare import job_manifest as jm

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "..", "docs", "protocol.md")
UTC = datetime.timezone.utc


def vector_block(label):
    with open(DOC, encoding="utf-8") as f:
        m = re.search(r"```text " + label + r"\n([\s\S]*?)\n```", f.read())
    assert m, f"docs/protocol.md has no block {label}"
    return m.group(1)


def write_vector_job(root):
    os.makedirs(os.path.join(root, "app", "config"))
    os.makedirs(os.path.join(root, "data"))
    for rel, text in {"meta.json": '{"name":"vector-job"}', "app/config/config_fed_client.json": '{"executors":[]}', "data/é.txt": "ok\n"}.items():
        with open(os.path.join(root, rel), "w", encoding="utf-8", newline="") as f:
            f.write(text)


def new_key(kind):
    return ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def certificate(subject_key, subject, issuer_key, issuer, ca, days=30):
    now = datetime.datetime.now(UTC)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(subject_key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
         .not_valid_after(now + datetime.timedelta(days=days)).add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return b.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode("ascii")


def project(kind="ec", role="project_admin"):
    """A root CA and one kit signed by it (an admin with `role`, or a site when role is None)."""
    root_key = new_key("ec")
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "py_test")])
    root_pem = certificate(root_key, root_name, root_key, root_name, True, 3650)
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, "admin@example.org"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "example")]
    if role:
        attrs.append(x509.NameAttribute(x509.ObjectIdentifier(jm.ROLE_OID), role))
    key = new_key(kind)
    return root_pem, certificate(key, x509.Name(attrs), root_key, root_name, False), pem_key(key)


class Vector(unittest.TestCase):
    """docs/protocol.md 5.4: Python writes exactly the documented bytes."""

    def test_canonical_bytes_digest_and_signature(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        write_vector_job(d)
        cert = vector_block("vector-cert") + "\n"
        m = jm.build_manifest(d, cert, nonce="0123456789abcdef" * 4, at=datetime.datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
        self.assertEqual(m["job_name"], "vector-job")  # from meta.json
        b = jm.canonical_bytes(m)
        self.assertEqual(b, vector_block("vector-canonical").encode("utf-8"))
        self.assertEqual(len(b), 1151)
        self.assertEqual(hashlib.sha256(b).hexdigest(), vector_block("vector-digest"))
        public = x509.load_pem_x509_certificate(cert.encode()).public_key()
        self.assertTrue(jm.verify_bytes(public, b, vector_block("vector-signature")))
        self.assertFalse(jm.verify_bytes(public, b + b" ", vector_block("vector-signature")))

    def test_canonical_json_escapes_like_json_stringify(self):
        self.assertEqual(jm.canonical_json({"b": ["z", "a"], "a": {"é": "\n\u0001\"", "e": "x"}}), '{"a":{"e":"x","é":"\\n\\u0001\\""},"b":["z","a"]}')
        # Code point order: U+FF5E before U+1F600 (UTF-16 order would put the emoji first).
        self.assertEqual(jm.canonical_json({"\U0001F600": "", "\uff5e": ""}), '{"\uff5e":"","\U0001F600":""}')

    def test_iso_ms_is_to_iso_string(self):
        at = datetime.datetime(2026, 1, 2, 3, 4, 5, 678999, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
        self.assertEqual(jm.iso_ms(at), "2026-01-02T01:04:05.678Z")


class SignVerify(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)
        self.job = os.path.join(self.dir, "job")
        write_vector_job(self.job)

    def sign(self, kind="ec", role="project_admin"):
        root, cert, key = project(kind, role)
        jm.sign_job(self.job, cert, key)
        return root

    def refused(self, code, reason=None, root=None):
        with self.assertRaises(jm.JobManifestError) as c:
            jm.verify_job(self.job, root)
        self.assertEqual(c.exception.code, code, str(c.exception))
        if reason:
            self.assertEqual(c.exception.details.get("reason"), reason)
        return c.exception

    def test_ec_and_rsa_kits_sign_and_verify(self):
        for kind in ("ec", "rsa"):
            root = self.sign(kind)
            m, signer = jm.verify_job(self.job, root)
            self.assertEqual((signer["name"], signer["org"], signer["role"]), ("admin@example.org", "example", "project_admin"))
            self.assertEqual(m["folders"], ["app", "app/config", "data"])
            with open(os.path.join(self.job, jm.MANIFEST_FILE), encoding="utf-8") as f:
                text = f.read()
            outer = json.loads(text)
            self.assertEqual(list(outer), ["format", "manifest", "signature"])
            self.assertEqual(text, jm.manifest_file_text(outer["manifest"], outer["signature"]))

    def test_changed_added_removed_files_and_folders(self):
        root = self.sign()
        with open(os.path.join(self.job, "data", "é.txt"), "a") as f:
            f.write("!")
        e = self.refused(jm.ERR_TAMPERED, "changed", root)
        self.assertIn("data/é.txt was changed after signing", e.message)
        root = self.sign()
        os.rename(os.path.join(self.job, "data", "é.txt"), os.path.join(self.job, "data", "e.txt"))
        self.assertIn("data/e.txt was added", self.refused(jm.ERR_TAMPERED, "added", root).message)
        root = self.sign()
        os.remove(os.path.join(self.job, "data", "e.txt"))
        self.assertIn("data/e.txt was removed", self.refused(jm.ERR_TAMPERED, "removed", root).message)
        root = self.sign()
        os.mkdir(os.path.join(self.job, "extra"))
        self.assertIn("job folder extra was added", self.refused(jm.ERR_TAMPERED, "added", root).message)

    def test_manifest_altered_or_not_canonical(self):
        root = self.sign()
        path = os.path.join(self.job, jm.MANIFEST_FILE)
        with open(path, encoding="utf-8") as f:
            outer = json.load(f)
        for manifest, code in (
            (outer["manifest"].replace('"job_name":"vector-job"', '"job_name":"other"'), jm.ERR_TAMPERED),
            (json.dumps(json.loads(outer["manifest"]), indent=1, ensure_ascii=False), jm.ERR_BAD_MANIFEST),
            (outer["manifest"].replace('"folders":["app"', '"folders":["data","app"'), jm.ERR_BAD_MANIFEST),
        ):
            with open(path, "w", encoding="utf-8") as f:
                json.dump({**outer, "manifest": manifest}, f)
            self.refused(code, root=root)
        os.remove(path)
        self.refused(jm.ERR_UNSIGNED, root=root)

    def test_bad_signers(self):
        self.sign(role=None)
        with self.assertRaises(jm.JobManifestError) as c:
            jm.verify_job(self.job, project()[0])  # another project's root
        self.assertEqual(c.exception.code, jm.ERR_BAD_SIGNER)
        root = self.sign(role=None)  # a site's kit: no role
        self.assertIn("not an admin certificate", self.refused(jm.ERR_BAD_SIGNER, root=root).message)
        root, cert, _ = project()
        with self.assertRaises(jm.JobManifestError) as c:
            jm.sign_job(self.job, cert, project()[2], key_source="other.key")
        self.assertIn("other.key is not the key of the certificate", c.exception.message)

    def test_links_special_files_and_bad_names_cannot_be_signed(self):
        _, cert, key = project()
        cases = [("link", lambda p: os.symlink("meta.json", p), "symlink"), ("fifo", os.mkfifo, "special"),
                 ("a\\b", lambda p: open(p, "w").close(), "bad_name"), ("tab\there", lambda p: open(p, "w").close(), "bad_name"),
                 ("__proto__", lambda p: open(p, "w").close(), "bad_name")]
        for name, make, reason in cases:
            p = os.path.join(self.job, "app", name)
            make(p)
            with self.assertRaises(jm.JobManifestError) as c:
                jm.sign_job(self.job, cert, key)
            self.assertEqual((c.exception.code, c.exception.details.get("reason"), c.exception.details.get("path")), (jm.ERR_TAMPERED, reason, f"app/{name}"))
            os.remove(p)
        bad = os.path.join(os.fsencode(self.job), b"\xff.txt")
        open(bad, "w").close()
        with self.assertRaises(jm.JobManifestError) as c:
            jm.sign_job(self.job, cert, key)
        self.assertIn("not valid UTF-8", c.exception.message)

    def test_command_line(self):
        root, cert, key = project()
        files = {}
        for name, text in (("rootCA.pem", root), ("client.crt", cert), ("client.key", key.decode())):
            files[name] = os.path.join(self.dir, name)
            with open(files[name], "w") as f:
                f.write(text)
        env = {**os.environ, "PYTHONPATH": os.path.join(HERE, "..")}
        run = lambda *args: subprocess.run([sys.executable, "-m", "cohort_flare.job_manifest", *args], capture_output=True, text=True, env=env, timeout=30)
        r = run("sign", self.job, "--cert", files["client.crt"], "--key", files["client.key"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("signed", r.stdout)
        r = run("verify", self.job, "--root", files["rootCA.pem"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("signed by admin@example.org (example, project_admin)", r.stdout)
        with open(os.path.join(self.job, "meta.json"), "w") as f:
            f.write("{}")
        r = run("verify", self.job, "--root", files["rootCA.pem"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("error: ERR_JOB_TAMPERED: job file meta.json was changed after signing", r.stderr)


if __name__ == "__main__":
    unittest.main()
