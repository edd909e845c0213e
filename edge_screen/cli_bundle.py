"""``edge-screen bundle keygen|sign|verify``: signed bundles for screening programmes.

A programme generates one key pair, signs every bundle it approves, and gives clinics the public
key; a clinic sets ``EDGE_SCREEN_TRUSTED_KEYS=/path/programme.pub`` and then loads only bundles
signed with it (see :mod:`edge_screen.signing`). Registered through the ``edge_screen.commands``
entry point group like every other sub-command.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_screen.errors import UsageError


def _cmd_keygen(args: argparse.Namespace) -> int:
    from edge_screen.signing import generate_keypair

    pub = generate_keypair(args.secret, args.public)
    print(f"key {pub.key_id_hex}: secret key {args.secret} (keep it private), public key {args.public}")
    return 0


def _cmd_sign(args: argparse.Namespace) -> int:
    from edge_screen.bundle import MANIFEST, load_bundle
    from edge_screen.signing import sign_file

    folder = Path(args.bundle)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a bundle folder; sign the folder, then zip it (edge-screen keeps "
                         "the signature inside the zip)")
    bundle = load_bundle(folder, trusted_keys=[])  # hashes checked: sign only what is intact
    out = sign_file(bundle.root / MANIFEST, args.key, comment=args.comment or f"bundle:{bundle.name}@{bundle.version}")
    print(f"signed {bundle.id}: {out}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from edge_screen.bundle import MANIFEST, load_bundle
    from edge_screen.signing import read_public_key, verify_file

    keys = [read_public_key(k) for k in args.key]
    bundle = load_bundle(args.bundle, trusted_keys=keys)  # signature and every file hash
    v = verify_file(bundle.root / MANIFEST, keys)
    print(f"{bundle.id}: signature by key {v.key.key_id_hex} is valid, every file matches its hash "
          f"(trusted comment: {v.trusted_comment})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``bundle`` with its ``keygen``, ``sign`` and ``verify`` actions."""
    p = sub.add_parser("bundle", help="sign and verify model bundles (Ed25519, minisign format)",
                       description="Sign and verify model bundles so that a clinic loads only bundles its "
                                   "programme approved (EDGE_SCREEN_TRUSTED_KEYS).")
    acts = p.add_subparsers(dest="bundle_action", metavar="ACTION", required=True)
    k = acts.add_parser("keygen", help="create a key pair")
    k.add_argument("--secret", required=True, metavar="FILE", help="secret key to write (mode 0600)")
    k.add_argument("--public", required=True, metavar="FILE", help="public key to write (minisign format)")
    k.set_defaults(func=_cmd_keygen)
    s = acts.add_parser("sign", help="sign a bundle folder's manifest")
    s.add_argument("bundle", help="bundle folder")
    s.add_argument("--key", required=True, metavar="FILE", help="secret key (edge-screen bundle keygen)")
    s.add_argument("--comment", help="trusted comment stored in the signature (default: bundle name@version)")
    s.set_defaults(func=_cmd_sign)
    v = acts.add_parser("verify", help="check a bundle's signature and every file hash")
    v.add_argument("bundle", help="bundle folder or .zip")
    v.add_argument("--key", required=True, action="append", metavar="FILE",
                   help="trusted public key (minisign format); repeat for several")
    v.set_defaults(func=_cmd_verify)
