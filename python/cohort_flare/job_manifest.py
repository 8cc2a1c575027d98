"""Signed job manifests for Python tooling (docs/protocol.md section 5): the same canonical bytes as
Cohort's console (src/pki/job-manifest.ts) and browser signer (src/pki/job-manifest-web.ts).

    python3 -m cohort_flare.job_manifest sign <job folder> --cert client.crt --key client.key
    python3 -m cohort_flare.job_manifest verify <job folder> --root rootCA.pem

`sign` writes `.__cohort_job_manifest.json` at the job root: one signature (the kit key: ECDSA
P-256/SHA-256 DER, or RSA-PSS/SHA-256 with the maximum salt) over every file's path and SHA-256,
every folder, the job name (meta.json `name`), the signer's certificate, a random nonce and the
time. Write it last: any file written after it fails verification. `verify` checks the manifest's
form, that the certificate was issued by the project root and carries an admin role, the signature,
and that the folder holds exactly the manifest's files and folders.

Walking and canonical encoding use the standard library only; signing and verifying use the
`cryptography` package (Debian: python3-cryptography), imported only when needed.
"""

import argparse
import base64
import datetime
import hashlib
import json
import os
import re
import secrets
import stat
import sys

FORMAT = "cohort-job-manifest/1"
MANIFEST_FILE = ".__cohort_job_manifest.json"
# PKCS#9 unstructuredName: where FLARE (and Cohort) store an admin's role.
ROLE_OID = "1.2.840.113549.1.9.2"

ERR_UNSIGNED = "ERR_JOB_UNSIGNED"
ERR_TAMPERED = "ERR_JOB_TAMPERED"
ERR_BAD_SIGNER = "ERR_JOB_BAD_SIGNER"
ERR_BAD_MANIFEST = "ERR_JOB_BAD_MANIFEST"

# A path segment: no separators, no control characters, not "." or ".." (\Z: "$" would let a
# trailing newline through).
_SEGMENT = re.compile(r"(?!\.\.?\Z)[^/\\\x00-\x1f\x7f]+\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_ISO_MS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\Z")
_FIELDS = ("files", "folders", "format", "job_name", "nonce", "submitted_at", "submitter_certificate")


class JobManifestError(Exception):
    """A refusal with Cohort's stable code (`ERR_JOB_...`) and structured details."""

    def __init__(self, code, message, **details):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def __str__(self):
        return f"{self.code}: {self.message}"


def _utf16_length(s):
    # zod's max() counts UTF-16 code units, as JavaScript does.
    return len(s.encode("utf-16-le")) // 2


def bad_segment(name):
    """Why `name` cannot be a segment of a job path (None when it can)."""
    if name == "__proto__":
        return "is __proto__"
    if not _SEGMENT.match(name):
        return 'is empty, "." or "..", or has a "/", a backslash or a control character (U+0000-U+001F, U+007F)'
    if any(0xD800 <= ord(c) <= 0xDFFF for c in name):
        return "is not valid UTF-8"
    return None


def _check_segment(name, path):
    why = bad_segment(name)
    if why:
        raise JobManifestError(ERR_TAMPERED, f"job file {json.dumps(path, ensure_ascii=False)}: the name {json.dumps(name, ensure_ascii=False)} {why}; rename it", path=path, reason="bad_name")


def _utf8_key(s):
    return s.encode("utf-8", "surrogatepass")


def canonical_json(value):
    """Canonical JSON text (section 5.2): keys sorted by code point, no whitespace, JSON.stringify's escapes."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)


def canonical_bytes(manifest):
    """The exact bytes that are signed: the canonical JSON of the manifest, UTF-8."""
    return canonical_json(manifest).encode("utf-8")


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def scan_job_folder(root):
    """The folder as the manifest sees it: (sorted folders, {path: sha256}); refuses links, special files and bad names."""
    folders = []
    files = {}

    def walk(abs_dir, rel):
        # Bytes: a name that is not UTF-8 is refused, not smuggled in as surrogate escapes.
        for raw in os.listdir(os.fsencode(abs_dir)):
            try:
                name = raw.decode("utf-8")
            except UnicodeDecodeError:
                path = (rel + "/" if rel else "") + raw.decode("utf-8", "backslashreplace")
                raise JobManifestError(ERR_TAMPERED, f"job file {json.dumps(path)}: the name is not valid UTF-8; rename it", path=path, reason="bad_name") from None
            path = f"{rel}/{name}" if rel else name
            if path == MANIFEST_FILE:
                continue
            _check_segment(name, path)
            full = os.path.join(abs_dir, name)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                raise JobManifestError(ERR_TAMPERED, f"job file {path} is a symbolic link; copy the file instead", path=path, reason="symlink")
            if stat.S_ISDIR(st.st_mode):
                folders.append(path)
                walk(full, path)
            elif stat.S_ISREG(st.st_mode):
                files[path] = _sha256_file(full)
            else:
                raise JobManifestError(ERR_TAMPERED, f"job file {path} is not a regular file or folder", path=path, reason="special")

    if not os.path.isdir(root):
        raise JobManifestError(ERR_BAD_MANIFEST, f"{root}: not a job folder (no such directory); give the folder holding meta.json", file=str(root))
    walk(os.fspath(root), "")
    return sorted(folders, key=_utf8_key), files


def iso_ms(at):
    """`Date.prototype.toISOString()` of a datetime: UTC, milliseconds, `Z`."""
    if at.tzinfo is None:
        raise JobManifestError(ERR_BAD_MANIFEST, f"submitted_at {at!r} has no time zone; pass an aware datetime (datetime.timezone.utc)", field="at")
    u = at.astimezone(datetime.timezone.utc)
    return u.strftime("%Y-%m-%dT%H:%M:%S.") + f"{u.microsecond // 1000:03d}Z"


def job_name_of(root):
    """meta.json `name` (what the manifest's job_name must equal)."""
    meta = os.path.join(root, "meta.json")
    try:
        with open(meta, "rb") as f:
            name = json.loads(f.read().decode("utf-8")).get("name")
    except FileNotFoundError:
        raise JobManifestError(ERR_BAD_MANIFEST, f"{meta} is missing: a job folder holds meta.json with its name (or pass job_name)", file=meta) from None
    except (ValueError, AttributeError) as e:
        raise JobManifestError(ERR_BAD_MANIFEST, f"{meta} is not a JSON object ({e}); fix the file", file=meta) from None
    if not isinstance(name, str) or not name:
        raise JobManifestError(ERR_BAD_MANIFEST, f"{meta}: field name is {name!r}; it must be the job's name (a non-empty string)", file=meta, field="name")
    return name


def build_manifest(root, cert_pem, job_name=None, nonce=None, at=None):
    """The manifest of the folder as it is now (sign after every other file is written)."""
    if job_name is None:
        job_name = job_name_of(root)
    if not isinstance(job_name, str) or not 1 <= _utf16_length(job_name) <= 1000:
        raise JobManifestError(ERR_BAD_MANIFEST, f"job_name {job_name!r} must be meta.json's name (1 to 1000 characters)", field="job_name")
    if not isinstance(cert_pem, str) or "-----BEGIN CERTIFICATE-----" not in cert_pem:
        raise JobManifestError(ERR_BAD_MANIFEST, "cert_pem must be the kit's client.crt (PEM text)", field="cert_pem")
    if nonce is None:
        nonce = secrets.token_hex(32)
    if not isinstance(nonce, str) or not _HEX64.match(nonce):
        raise JobManifestError(ERR_BAD_MANIFEST, f"nonce {nonce!r} must be 64 lowercase hex digits (32 random bytes); leave it out for a random one", field="nonce")
    folders, files = scan_job_folder(root)
    return {
        "format": FORMAT,
        "job_name": job_name,
        "submitter_certificate": cert_pem,
        "nonce": nonce,
        "submitted_at": iso_ms(at or datetime.datetime.now(datetime.timezone.utc)),
        "folders": folders,
        "files": dict(sorted(files.items(), key=lambda kv: _utf8_key(kv[0]))),
    }


def manifest_file_text(canonical, signature):
    """The manifest file's text, as the console writes it (JSON.stringify(..., null, 1) and a newline)."""
    return json.dumps({"format": FORMAT, "manifest": canonical, "signature": signature}, indent=1, ensure_ascii=False) + "\n"


# --- signatures (the `cryptography` package) ---------------------------------------------------

def _crypto():
    try:
        from cryptography import x509
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    except ImportError as e:  # pragma: no cover - depends on the machine
        raise JobManifestError("ERR_PYTHON_CRYPTOGRAPHY", f"signing needs the cryptography package ({e}): apt-get install python3-cryptography", package="python3-cryptography") from None
    return x509, InvalidSignature, hashes, serialization, ec, padding, rsa


def load_private_key(key_pem, password=None, source="the key"):
    """A kit key (PEM) as a cryptography key: EC P-256 or RSA; `password` for an encrypted one."""
    _x509, _inv, _hashes, serialization, ec, _padding, rsa = _crypto()
    data = key_pem.encode("utf-8") if isinstance(key_pem, str) else key_pem
    try:
        key = serialization.load_pem_private_key(data, password=password.encode("utf-8") if isinstance(password, str) else password)
    except TypeError as e:
        raise JobManifestError("ERR_KEY_PASSPHRASE_REQUIRED" if password is None else "ERR_KEY_PASSPHRASE_WRONG", f"{source}: {e}; set the passphrase (--key-passphrase-env) or give an unencrypted key", file=source) from None
    except ValueError:
        raise JobManifestError(ERR_BAD_MANIFEST, f"{source} is not a PEM private key, or its passphrase is wrong; give the kit's client.key", file=source) from None
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    if isinstance(key, rsa.RSAPrivateKey):
        return key
    raise JobManifestError("ERR_PKI_UNSUPPORTED_KEY_ALGORITHM", f"{source} is a {type(key).__name__}; job manifests are signed with EC P-256 or RSA kit keys", file=source)


def sign_bytes(private_key, data):
    """Base64 signature as Cohort makes it: ECDSA/SHA-256 (DER), or RSA-PSS/SHA-256, MGF1-SHA-256, maximum salt."""
    _x509, _inv, hashes, _ser, ec, padding, rsa = _crypto()
    if isinstance(private_key, rsa.RSAPrivateKey):
        sig = private_key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH), hashes.SHA256())
    else:
        sig = private_key.sign(data, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(sig).decode("ascii")


def verify_bytes(public_key, data, signature_b64):
    """True when `signature_b64` (strict base64) is a valid signature of `data` ({@link sign_bytes}; any PSS salt)."""
    _x509, InvalidSignature, hashes, _ser, ec, padding, rsa = _crypto()
    try:
        sig = base64.b64decode(signature_b64, validate=True)
    except (ValueError, TypeError):
        return False
    # A base64 string that does not round-trip was altered.
    if not sig or base64.b64encode(sig).decode("ascii") != signature_b64.strip():
        return False
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(sig, data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO), hashes.SHA256())
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(sig, data, ec.ECDSA(hashes.SHA256()))
        else:
            return False
        return True
    except InvalidSignature:
        return False


def _public_der(key):
    _x509, _inv, _hashes, serialization, _ec, _padding, _rsa = _crypto()
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _load_cert(pem, label):
    x509 = _crypto()[0]
    try:
        return x509.load_pem_x509_certificate(pem.encode("utf-8") if isinstance(pem, str) else pem)
    except ValueError:
        raise JobManifestError(ERR_BAD_SIGNER, f"{label} is not a valid PEM X.509 certificate", file=label) from None


def sign_manifest(manifest, private_key):
    """(canonical JSON text, base64 signature) of a manifest."""
    data = canonical_bytes(manifest)
    return data.decode("utf-8"), sign_bytes(private_key, data)


def sign_job(root, cert_pem, key_pem, password=None, job_name=None, nonce=None, at=None, key_source="the key"):
    """Signs a job folder: writes its manifest file (last). Returns the manifest."""
    key = load_private_key(key_pem, password, key_source)
    cert = _load_cert(cert_pem, "the certificate")
    if _public_der(cert.public_key()) != _public_der(key.public_key()):
        raise JobManifestError(ERR_BAD_SIGNER, f"{key_source} is not the key of the certificate given; give the client.crt and client.key of one kit", file=key_source)
    manifest = build_manifest(root, cert_pem if isinstance(cert_pem, str) else cert_pem.decode("utf-8"), job_name, nonce, at)
    canonical, signature = sign_manifest(manifest, key)
    with open(os.path.join(root, MANIFEST_FILE), "w", encoding="utf-8", newline="\n") as f:
        f.write(manifest_file_text(canonical, signature))
    return manifest


# --- verification --------------------------------------------------------------------------------

def _bad(why):
    raise JobManifestError(ERR_BAD_MANIFEST, f"{MANIFEST_FILE}: {why}; sign the job again", file=MANIFEST_FILE, reason=why)


def _is_rel_path(p):
    return isinstance(p, str) and 1 <= _utf16_length(p) <= 4096 and all(bad_segment(s) is None for s in p.split("/"))


def _check_shape(m):
    """The manifest's fields, exactly as the console's schema (src/pki/job-manifest.ts)."""
    if not isinstance(m, dict):
        _bad("field manifest is not a JSON object")
    extra = sorted(set(m) - set(_FIELDS))
    missing = sorted(set(_FIELDS) - set(m))
    if extra or missing:
        _bad(f"field manifest has fields {', '.join(extra) or '-'} it must not have and lacks {', '.join(missing) or '-'}")
    checks = {
        "format": m["format"] == FORMAT,
        "job_name": isinstance(m["job_name"], str) and 1 <= _utf16_length(m["job_name"]) <= 1000,
        "submitter_certificate": isinstance(m["submitter_certificate"], str) and 1 <= _utf16_length(m["submitter_certificate"]) <= 65536,
        "nonce": isinstance(m["nonce"], str) and bool(_HEX64.match(m["nonce"])),
        "submitted_at": isinstance(m["submitted_at"], str) and bool(_ISO_MS.match(m["submitted_at"])),
        "folders": isinstance(m["folders"], list) and all(_is_rel_path(f) for f in m["folders"]),
        "files": isinstance(m["files"], dict) and all(_is_rel_path(k) and isinstance(v, str) and _HEX64.match(v) for k, v in m["files"].items()),
    }
    wrong = [k for k, ok in checks.items() if not ok]
    if wrong:
        _bad(f"field manifest is not a valid manifest: {', '.join(wrong)}")
    folders = m["folders"]
    ordered = sorted(set(folders), key=_utf8_key)
    if ordered != folders:
        _bad("field folders is not sorted by UTF-8 bytes without duplicates")


def _name_attr(name, oid):
    values = [a.value for a in name if a.oid.dotted_string == oid]
    return values[0] if values else None


def _check_validity(cert, label, at):
    naive = at.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    if naive < cert.not_valid_before:
        raise JobManifestError(ERR_BAD_SIGNER, f"job signer not trusted: {label} is not valid before {cert.not_valid_before.isoformat()}Z; check the clock", file=label)
    if naive > cert.not_valid_after:
        raise JobManifestError(ERR_BAD_SIGNER, f"job signer not trusted: {label} expired on {cert.not_valid_after.isoformat()}Z; re-provision to renew it", file=label)


def _issued_by(cert, issuer):
    """True when `issuer` signed `cert` (our single-level PKI: the project root signs every kit)."""
    _x509, InvalidSignature, _hashes, _ser, ec, padding, rsa = _crypto()
    if cert.issuer != issuer.subject:
        return False
    key = issuer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        else:
            return False
        return True
    except InvalidSignature:
        return False


def trusted_signer(cert_pem, root_pem, at):
    """The signer's certificate: issued by the project root (a self-signed CA), valid at `at`, with an admin role."""
    x509 = _crypto()[0]
    root = _load_cert(root_pem, "rootCA.pem")
    try:
        is_ca = root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca or not _issued_by(root, root):
        raise JobManifestError(ERR_BAD_SIGNER, "job signer not trusted: rootCA.pem is not a self-signed CA certificate; give the project's rootCA.pem", file="rootCA.pem")
    _check_validity(root, "rootCA.pem", at)
    cert = _load_cert(cert_pem, "the job signer's certificate")
    if not _issued_by(cert, root):
        raise JobManifestError(ERR_BAD_SIGNER, f"job signer not trusted: the job signer's certificate ({cert.subject.rfc4514_string()}) was not issued by this root CA; it comes from a different project or was altered", issuer=cert.issuer.rfc4514_string())
    _check_validity(cert, "the job signer's certificate", at)
    cn = _name_attr(cert.subject, x509.NameOID.COMMON_NAME.dotted_string) or ""
    role = _name_attr(cert.subject, ROLE_OID)
    if not role:
        raise JobManifestError(ERR_BAD_SIGNER, f"the job was signed by {cn}, which is not an admin certificate (no role)", signer=cn)
    org = _name_attr(cert.subject, x509.NameOID.ORGANIZATION_NAME.dotted_string) or ""
    return cert, {"name": cn, "org": org, "role": role}


def read_signed_manifest(root, root_pem, at=None):
    """Checks the manifest's form, signer and signature (not the files: see verify_job). Returns (manifest, signer)."""
    at = at or datetime.datetime.now(datetime.timezone.utc)
    path = os.path.join(root, MANIFEST_FILE)
    if not os.path.isfile(path):
        raise JobManifestError(ERR_UNSIGNED, f"the job is not signed (no {MANIFEST_FILE}); sign it (python3 -m cohort_flare.job_manifest sign, or cohort admin)", file=MANIFEST_FILE)
    try:
        with open(path, "rb") as f:
            outer = json.loads(f.read().decode("utf-8"))
    except ValueError:
        outer = None
    if not (isinstance(outer, dict) and set(outer) == {"format", "manifest", "signature"} and outer["format"] == FORMAT
            and isinstance(outer["manifest"], str) and len(outer["manifest"]) >= 2 and isinstance(outer["signature"], str) and outer["signature"]):
        _bad("not a manifest file (fields format, manifest, signature)")
    try:
        manifest = json.loads(outer["manifest"])
    except ValueError:
        manifest = None
    _check_shape(manifest)
    # Only the canonical form is accepted: one manifest, one byte string.
    if canonical_json(manifest) != outer["manifest"]:
        _bad("field manifest is not in canonical form (sorted keys, no whitespace)")
    cert, signer = trusted_signer(manifest["submitter_certificate"], root_pem, at)
    if not verify_bytes(cert.public_key(), outer["manifest"].encode("utf-8"), outer["signature"]):
        raise JobManifestError(ERR_TAMPERED, f"{MANIFEST_FILE}: the signature does not match the manifest (it was changed after signing)", file=MANIFEST_FILE, reason="signature")
    return manifest, signer


def check_files_match(root, manifest):
    """The folder holds exactly the manifest's files (same bytes) and folders, nothing else."""
    folders, files = scan_job_folder(root)
    want_files = manifest["files"]
    for path, sha in files.items():
        want = want_files.get(path)
        if want is None:
            raise JobManifestError(ERR_TAMPERED, f"job file {path} was added after signing (it is not in {MANIFEST_FILE}; a renamed or moved file also shows so)", path=path, reason="added")
        if want != sha:
            raise JobManifestError(ERR_TAMPERED, f"job file {path} was changed after signing (sha256 {sha}, the manifest says {want})", path=path, reason="changed")
    for path in want_files:
        if path not in files:
            raise JobManifestError(ERR_TAMPERED, f"job file {path} was removed after signing (it is in {MANIFEST_FILE} but missing)", path=path, reason="removed")
    have, want_folders = set(folders), set(manifest["folders"])
    for f in folders:
        if f not in want_folders:
            raise JobManifestError(ERR_TAMPERED, f"job folder {f} was added after signing", path=f, reason="added")
    for f in manifest["folders"]:
        if f not in have:
            raise JobManifestError(ERR_TAMPERED, f"job folder {f} was removed after signing", path=f, reason="removed")


def verify_job(root, root_pem, at=None):
    """Verifies a job folder by its manifest: form, signer (issued by `root_pem`, an admin), signature, files."""
    manifest, signer = read_signed_manifest(root, root_pem, at)
    check_files_match(root, manifest)
    return manifest, signer


# --- command line --------------------------------------------------------------------------------

def _read(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise JobManifestError("ERR_FILE", f"{what} {path}: {e.strerror}; give the path of {what}", file=path) from None


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m cohort_flare.job_manifest", description="Sign or verify a Cohort job manifest (docs/protocol.md section 5).")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sign", help="write .__cohort_job_manifest.json into a job folder (do it last)")
    s.add_argument("job", help="the job folder (holds meta.json)")
    s.add_argument("--cert", required=True, help="the signer's certificate: the admin kit's startup/client.crt")
    s.add_argument("--key", required=True, help="its private key: the admin kit's startup/client.key")
    s.add_argument("--key-passphrase-env", metavar="VAR", help="environment variable holding the key's passphrase (encrypted keys)")
    s.add_argument("--job-name", help="the job's name (default: meta.json name)")
    v = sub.add_parser("verify", help="check a signed job folder against the project root")
    v.add_argument("job", help="the job folder")
    v.add_argument("--root", required=True, help="the project's rootCA.pem")
    a = p.parse_args(argv)
    try:
        if a.command == "sign":
            password = None
            if a.key_passphrase_env:
                password = os.environ.get(a.key_passphrase_env)
                if password is None:
                    raise JobManifestError("ERR_KEY_PASSPHRASE_REQUIRED", f"--key-passphrase-env {a.key_passphrase_env}: the variable is not set; export it", field="key_passphrase_env")
            cert_pem = _read(a.cert, "the certificate").decode("utf-8")
            m = sign_job(a.job, cert_pem, _read(a.key, "the key"), password=password, job_name=a.job_name, key_source=a.key)
            print(f"signed {a.job} ({m['job_name']}): {len(m['files'])} files, {len(m['folders'])} folders, nonce {m['nonce']} -> {MANIFEST_FILE}")
        else:
            m, signer = verify_job(a.job, _read(a.root, "the root certificate"))
            print(f"verified {a.job} ({m['job_name']}): signed by {signer['name']} ({signer['org']}, {signer['role']}) at {m['submitted_at']}; {len(m['files'])} files, {len(m['folders'])} folders")
    except JobManifestError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
