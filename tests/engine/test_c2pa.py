"""C2PA content credentials (the optional ``c2pa`` extra): exports signed with a throw-away test
chain made here (a root CA and an end-entity certificate, no network) verify as valid with our
assertions, a changed byte of image data makes them invalid, and bad keys are one-line errors.
Skipped where c2pa-python or cryptography is not installed."""

from __future__ import annotations

import datetime
import sys

import numpy as np
import pytest

c2pa = pytest.importorskip('c2pa')
pytest.importorskip('cryptography')

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

from explorer.engine import c2pa_credentials as C2PA  # noqa: E402
from explorer.engine.image_export import ExportOptions, save_image  # noqa: E402
from explorer.engine.png import read_recipe  # noqa: E402
from explorer.errors import UserError  # noqa: E402

SHA = 'cd' * 32
RECIPE = {'seeds': [7], 'psi': 0.7, 'noise_mode': 'const', 'checkpoint': 'portraits64.pt', 'checkpoint_sha256': SHA}


def _usage(sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                         encipher_only=False, decipher_only=False)


def _cert(subject, issuer, public_key, signing_key, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(_usage(sign=not ca, ca=ca), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))
    if not ca:      # the C2PA certificate profile: an end-entity cert with a signing EKU, not self-signed
        b = (b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
                            critical=False))
    return b.sign(signing_key, hashes.SHA256())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'Explorer Test CA')])


@pytest.fixture(scope='module')
def chain(tmp_path_factory):
    """A throw-away root CA and end-entity signer (ES256) -> dict of PEM paths and bytes."""
    d = tmp_path_factory.mktemp('c2pa_chain')
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert(_name('Test Root'), _name('Test Root'), root_key.public_key(), root_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert(_name('Test Signer'), root.subject, key.public_key(), root_key, ca=False)
    pem = serialization.Encoding.PEM
    out = {
        'chain': leaf.public_bytes(pem) + root.public_bytes(pem),
        'key': key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        'root': root.public_bytes(pem),
        'other_key': ec.generate_private_key(ec.SECP256R1()).private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    }
    for k, v in list(out.items()):
        (d / f'{k}.pem').write_bytes(v)
        out[k + '_path'] = str(d / f'{k}.pem')
    return out


def _pixels(seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (48, 40, 3), dtype=np.uint8)


def _signed_export(tmp_path, chain, fmt, **kw):
    options = ExportOptions(format=fmt, c2pa_cert=chain['chain_path'], c2pa_key=chain['key_path'], **kw)
    return save_image(tmp_path / f'img{options.extension}', _pixels(), RECIPE, options)


def _flip_image_byte(path, fmt) -> None:
    """Change one byte inside the compressed pixel data (PNG IDAT, JPEG scan), not the metadata."""
    data = bytearray(path.read_bytes())
    if fmt == 'png':
        start = data.index(b'IDAT') + 4 + 10
    else:
        start = data.rindex(b'\xff\xda') + 20           # into the entropy-coded scan
        while data[start] in (0xFF, 0xFE, 0x00) or data[start - 1] == 0xFF:
            start += 1
    data[start] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize('fmt', ['png', 'jpeg'])
def test_signed_export_verifies_with_our_assertions(tmp_path, chain, fmt):
    path = _signed_export(tmp_path, chain, fmt)
    v = C2PA.verify_file(path)
    assert v.status == 'valid', v.messages
    assert v.model == {'name': 'portraits64.pt', 'sha256': SHA}
    assert v.digital_source_type == C2PA.TRAINED_ALGORITHMIC_MEDIA
    assert v.claim_generator.startswith('StyleGAN Explorer')
    assert v.signer.startswith('Test Signer')
    assert not v.trusted and 'signingCredential.untrusted' in v.codes     # a self-made chain: valid, not trusted
    assert 'valid, signed by Test Signer' in v.summary()
    assert read_recipe(path)['psi'] == 0.7                                  # the recipe and XMP survive signing
    trusted = C2PA.verify_file(path, trust_anchors_pem=chain['root'])
    assert trusted.status == 'valid' and trusted.trusted
    # the raw c2pa reader agrees, and the action is the one the issue asks for
    with c2pa.Reader(str(path)) as r:
        active = r.get_active_manifest()
    actions = next(a['data']['actions'] for a in active['assertions'] if a['label'].startswith('c2pa.actions'))
    assert actions[0]['action'] == 'c2pa.created'


@pytest.mark.parametrize('fmt', ['png', 'jpeg'])
def test_changed_image_data_fails_verification(tmp_path, chain, fmt):
    path = _signed_export(tmp_path, chain, fmt)
    _flip_image_byte(path, fmt)
    v = C2PA.verify_file(path)
    assert v.status == 'invalid'
    assert any('dataHash.mismatch' in c for c in v.codes), v.codes
    assert v.summary().startswith('Content credentials: invalid: ')


def test_unsigned_export_has_no_credentials(tmp_path, chain):
    path = save_image(tmp_path / 'plain.png', _pixels(), RECIPE, ExportOptions())
    assert C2PA.verify_file(path).status == 'none'


def test_sign_file_in_place_and_checkpoint_stripped(tmp_path, chain):
    path = save_image(tmp_path / 'a.webp', _pixels(1), RECIPE, ExportOptions(format='webp'))
    C2PA.sign_file(path, chain['chain'], chain['key'], 'es256', 'm.pkl', SHA)
    v = C2PA.verify_file(path)
    assert v.status == 'valid' and v.model == {'name': 'm.pkl', 'sha256': SHA}
    # the checkpoint field switched off: no model assertion either
    stripped = _signed_export(tmp_path, chain, 'png', checkpoint=False)
    v = C2PA.verify_file(stripped)
    assert v.status == 'valid' and v.model is None


def test_bad_keys_are_one_line_errors_and_write_nothing(tmp_path, chain):
    bad = tmp_path / 'bad.pem'
    bad.write_text('-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n-----END PRIVATE KEY-----\n')
    out = tmp_path / 'x.png'
    with pytest.raises(UserError) as e:
        save_image(out, _pixels(), RECIPE, ExportOptions(c2pa_cert=chain['chain_path'], c2pa_key=str(bad)))
    assert '\n' not in str(e.value) and 'C2PA' in str(e.value)
    assert not out.exists()
    with pytest.raises(UserError) as e:         # a real key that is not the certificate's
        C2PA.sign_bytes(_png_bytes(tmp_path), chain['chain'], chain['other_key'])
    assert '\n' not in str(e.value)
    nope = tmp_path / 'nope.pem'
    nope.write_text('hello')
    with pytest.raises(UserError, match='not a PEM'):
        C2PA.read_pem(nope, 'private key')
    with pytest.raises(UserError, match='both'):
        ExportOptions(c2pa_cert=chain['chain_path'])
    with pytest.raises(UserError, match='algorithm'):
        C2PA.sign_bytes(_png_bytes(tmp_path), chain['chain'], chain['key'], alg='md5')


def _png_bytes(tmp_path) -> bytes:
    return save_image(tmp_path / 'src.png', _pixels(2), RECIPE, ExportOptions()).read_bytes()


def test_available_false_without_the_extra(tmp_path, chain, monkeypatch):
    monkeypatch.setitem(sys.modules, 'c2pa', None)      # import c2pa -> ImportError
    assert not C2PA.available()
    with pytest.raises(UserError, match='pip install'):
        C2PA.verify_file(save_image(tmp_path / 'src.png', _pixels(2), RECIPE, ExportOptions()))
    out = tmp_path / 'y.png'
    with pytest.raises(UserError, match='c2pa'):
        save_image(out, _pixels(), RECIPE, ExportOptions(c2pa_cert=chain['chain_path'], c2pa_key=chain['key_path']))
    assert not out.exists()
    save_image(out, _pixels(), RECIPE, ExportOptions())     # unsigned exports do not need it
    assert out.exists()
