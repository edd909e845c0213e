"""Signed bundles: keygen/sign/verify, tamper detection, the clinic's trust setting, minisign interop."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("cryptography", reason="bundle signatures need the sign extra (cryptography)")

from edge_screen.bundle import MANIFEST, load_bundle, zip_bundle  # noqa: E402
from edge_screen.errors import BundleError  # noqa: E402
from edge_screen.signing import (SIGNATURE_SUFFIX, TRUSTED_KEYS_ENV, generate_keypair,  # noqa: E402
                                 read_public_key, sign_file, verify_file)


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    full = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "edge_screen", *args], capture_output=True, text=True,
                          timeout=120, env=full)


@pytest.fixture()
def keys(tmp_path):
    pub = generate_keypair(tmp_path / "programme.key", tmp_path / "programme.pub")
    return tmp_path / "programme.key", tmp_path / "programme.pub", pub


@pytest.fixture()
def signed(tiny_bundle, tmp_path, keys):
    b = tmp_path / "signed-bundle"
    shutil.copytree(tiny_bundle, b)
    sign_file(b / MANIFEST, keys[0])
    return b


def test_secret_key_is_private_and_public_key_is_minisign_format(keys):
    secret, public, pub = keys
    assert secret.stat().st_mode & 0o777 == 0o600
    lines = public.read_text().splitlines()
    assert lines[0] == f"untrusted comment: minisign public key {pub.key_id_hex}" and lines[1].startswith("RW")
    assert read_public_key(public) == pub.__class__(pub.key_id, pub.key, str(public))


def test_signed_bundle_verifies_and_loads_with_the_trusted_key(signed, keys):
    v = verify_file(signed / MANIFEST, [read_public_key(keys[1])])
    assert v.key.key_id == keys[2].key_id and "file:manifest.json" in v.trusted_comment
    assert load_bundle(signed, trusted_keys=[read_public_key(keys[1])]).name == "tiny"


def test_a_changed_manifest_fails_the_signature(signed, keys):
    m = json.loads((signed / MANIFEST).read_text())
    m["threshold"]["value"] = 0.01  # e.g. someone lowers the referral threshold
    (signed / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(BundleError, match="fails its signature check"):
        load_bundle(signed, trusted_keys=[read_public_key(keys[1])])


def test_a_changed_model_file_fails_its_hash_even_when_signed(signed, keys):
    b = load_bundle(signed)
    f = b.path(b.model("onnxruntime").files["model"])
    data = bytearray(f.read_bytes())
    data[-1] ^= 1
    f.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="SHA-256"):
        load_bundle(signed, trusted_keys=[read_public_key(keys[1])])


def test_unsigned_and_foreign_signed_bundles_are_refused(tiny_bundle, signed, tmp_path, keys):
    other = generate_keypair(tmp_path / "other.key", tmp_path / "other.pub")
    with pytest.raises(BundleError, match="is not signed"):
        load_bundle(tiny_bundle, trusted_keys=[read_public_key(keys[1])])
    with pytest.raises(BundleError, match=rf"signed by key {keys[2].key_id_hex}, which is not trusted"):
        load_bundle(signed, trusted_keys=[other])


def test_signature_travels_inside_a_zip(signed, tmp_path, keys):
    z = zip_bundle(signed, tmp_path / "signed.zip")
    assert load_bundle(z, trusted_keys=[read_public_key(keys[1])]).name == "tiny"


def test_rewriting_a_signed_bundle_drops_the_stale_signature(signed):
    from edge_screen.bundle import BundleWriter

    w = BundleWriter(signed)
    w.set_threshold(0.4, "changed for the test")
    w.write()
    assert not (signed / (MANIFEST + SIGNATURE_SUFFIX)).exists()


def test_clinic_setting_makes_the_cli_refuse_unsigned_bundles(tiny_bundle, signed, keys, tmp_path):
    from edge_screen.synthetic import synthetic_fundus

    import cv2

    img = tmp_path / "eye.png"
    cv2.imwrite(str(img), synthetic_fundus(256, seed=3)[..., ::-1])
    env = {TRUSTED_KEYS_ENV: str(keys[1])}
    bad = _cli("screen", str(img), "--bundle", str(tiny_bundle), "--backend", "onnxruntime", env=env)
    assert bad.returncode == 2 and "is not signed" in bad.stderr and "Traceback" not in bad.stderr
    good = _cli("screen", str(img), "--bundle", str(signed), "--backend", "onnxruntime", env=env)
    assert good.returncode == 0, good.stderr


def test_cli_keygen_sign_verify(tiny_bundle, tmp_path):
    b = tmp_path / "b"
    shutil.copytree(tiny_bundle, b)
    assert _cli("bundle", "keygen", "--secret", str(tmp_path / "k"), "--public", str(tmp_path / "k.pub")).returncode == 0
    assert _cli("bundle", "sign", str(b), "--key", str(tmp_path / "k")).returncode == 0
    ok = _cli("bundle", "verify", str(b), "--key", str(tmp_path / "k.pub"))
    assert ok.returncode == 0 and "is valid" in ok.stdout
    (b / MANIFEST).write_text((b / MANIFEST).read_text().replace('"tiny"', '"tiny2"', 1))
    bad = _cli("bundle", "verify", str(b), "--key", str(tmp_path / "k.pub"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "signature check" in bad.stderr


minisign = shutil.which("minisign")


@pytest.mark.skipif(minisign is None, reason="the minisign tool is not installed (apt-get install minisign)")
def test_minisign_verifies_our_signature(signed, keys):
    proc = subprocess.run([minisign, "-V", "-m", str(signed / MANIFEST), "-p", str(keys[1])],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "Signature and comment signature verified" in proc.stdout + proc.stderr


@pytest.mark.skipif(minisign is None, reason="the minisign tool is not installed (apt-get install minisign)")
def test_we_verify_a_minisign_signature(tiny_bundle, tmp_path):
    b = tmp_path / "b"
    shutil.copytree(tiny_bundle, b)
    sk, pk = tmp_path / "ms.key", tmp_path / "ms.pub"
    gen = subprocess.run([minisign, "-G", "-W", "-s", str(sk), "-p", str(pk)], capture_output=True, text=True, timeout=30)
    assert gen.returncode == 0, gen.stderr
    sig = subprocess.run([minisign, "-S", "-s", str(sk), "-m", str(b / MANIFEST), "-t", "approved by the programme"],
                         capture_output=True, text=True, timeout=30)
    assert sig.returncode == 0, sig.stderr
    v = verify_file(b / MANIFEST, [read_public_key(pk)])
    assert v.trusted_comment == "approved by the programme"
    (b / MANIFEST).write_text((b / MANIFEST).read_text() + " ")
    with pytest.raises(BundleError, match="signature check"):
        verify_file(b / MANIFEST, [read_public_key(pk)])
