"""C2PA content credentials (optional): sign an exported image with the user's own certificate
chain and private key, and verify the credentials of an image that is opened.

The extra ``pip install "stylegan-explorer[c2pa]"`` brings ``c2pa-python`` (the Content
Authenticity Initiative's c2pa-rs behind a C API); without it ``available()`` is False, exports
are written unsigned and nothing here is imported. No key or certificate is ever made for the
user: signing needs a PEM certificate chain (end-entity first; its key usage must allow
digitalSignature and its extended key usage must name e.g. emailProtection or documentSigning, as
the C2PA certificate profile requires) and the matching PEM private key.

The manifest says what the image is: a ``c2pa.actions`` assertion with one action,
``c2pa.created``, whose ``digitalSourceType`` is IPTC ``trainedAlgorithmicMedia``, and
``MODEL_LABEL`` naming the checkpoint that made it (file name and SHA-256).

Verification reports the c2pa validation state: 'valid' when the signature, the claim and the hash
of the image data all check (``trusted`` says whether the certificate also leads to a trust
anchor; a self-made chain is valid but not trusted), 'invalid' when anything fails (a changed
pixel, a damaged manifest), 'none' for a file without a manifest. Reading never fetches a remote
manifest or OCSP response.

No Qt, no torch.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from explorer.engine.atomic import atomic_write
from explorer.engine.files import open_regular
from explorer.errors import UserError

TRAINED_ALGORITHMIC_MEDIA = 'http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia'
MODEL_LABEL = 'invalid.stylegan-explorer.model'     # our own assertion (the XMP namespace's name, reversed)
CLAIM_GENERATOR = 'StyleGAN Explorer'
ALGORITHMS = ('es256', 'es384', 'es512', 'ps256', 'ps384', 'ps512', 'ed25519')
MAX_PEM_BYTES = 1 << 20
INSTALL_HINT = 'C2PA content credentials need the optional extra: pip install "stylegan-explorer[c2pa]"'
# read settings: never reach the network for a file someone gave us
_READ_SETTINGS = {'verify': {'remote_manifest_fetch': False, 'ocsp_fetch': False}}
_UNTRUSTED = 'signingCredential.untrusted'


def _c2pa():
    import c2pa  # the optional extra; ImportError (or OSError from its native library) without it
    return c2pa


def available() -> bool:
    """Is the ``c2pa`` extra installed (and its native library loadable)?"""
    try:
        _c2pa()
    except (ImportError, OSError):
        return False
    return True


def _require():
    try:
        return _c2pa()
    except (ImportError, OSError):
        raise UserError(INSTALL_HINT) from None


def sniff_mime(head: bytes) -> str | None:
    """The MIME type of an image file from its first bytes (the formats we export), else None."""
    if head.startswith(b'\x89PNG\r\n\x1a\n'):
        return 'image/png'
    if head.startswith(b'\xff\xd8\xff'):
        return 'image/jpeg'
    if head[:4] == b'RIFF' and head[8:12] == b'WEBP':
        return 'image/webp'
    if head[:4] in (b'II*\x00', b'MM\x00*'):
        return 'image/tiff'
    return None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def read_pem(path, what: str) -> bytes:
    """The bytes of a PEM file the user named (UserError, one line, for a missing, huge or non-PEM file)."""
    try:
        with open_regular(path) as f:
            data = f.read(MAX_PEM_BYTES + 1)
    except OSError as e:
        raise UserError(f'C2PA {what} {path}: {e.strerror or e}') from None
    if len(data) > MAX_PEM_BYTES:
        raise UserError(f'C2PA {what} {path}: larger than {MAX_PEM_BYTES} bytes, not a PEM file')
    if b'-----BEGIN ' not in data:
        raise UserError(f'C2PA {what} {path}: not a PEM file (no "-----BEGIN" line)')
    return data


def _check_pems(cert_chain_pem: bytes, private_key_pem: bytes) -> tuple[bytes, bytes]:
    cert = cert_chain_pem.encode() if isinstance(cert_chain_pem, str) else bytes(cert_chain_pem)
    key = private_key_pem.encode() if isinstance(private_key_pem, str) else bytes(private_key_pem)
    if b'-----BEGIN CERTIFICATE-----' not in cert:
        raise UserError('C2PA certificate chain: no PEM certificate in it ("-----BEGIN CERTIFICATE-----")')
    if b'PRIVATE KEY-----' not in key:
        raise UserError('C2PA private key: no PEM private key in it ("-----BEGIN PRIVATE KEY-----")')
    if b'\x00' in cert or b'\x00' in key:
        raise UserError('C2PA certificate or key: a NUL byte in the PEM text')
    return cert, key


def manifest_definition(model_name: str = '', model_sha256: str = '', title: str = '', model: bool = True) -> dict:
    """The manifest we sign: created by a trained algorithm, and (``model``) which model made it."""
    from explorer.version import __version__
    assertions = [
        {'label': 'c2pa.actions',
         'data': {'actions': [{'action': 'c2pa.created', 'digitalSourceType': TRAINED_ALGORITHMIC_MEDIA,
                               'softwareAgent': {'name': CLAIM_GENERATOR, 'version': __version__}}]}},
    ]
    if model:
        assertions.append({'label': MODEL_LABEL,
                           'data': {'name': str(model_name or ''), 'sha256': str(model_sha256 or '')}})
    d = {'claim_generator_info': [{'name': CLAIM_GENERATOR, 'version': __version__}], 'assertions': assertions}
    if title:
        d['title'] = title
    return d


def sign_file(path, cert_chain_pem: bytes, private_key_pem: bytes, alg: str = 'es256',
              model_name: str = '', model_sha256: str = '') -> Path:
    """Add a C2PA manifest (created by a trained algorithm; ``model_name`` + ``model_sha256``) to the
    PNG/JPEG/WebP/TIFF at ``path``, in place and atomically: the signed file is built in memory,
    checked by reading it back, then renamed over ``path`` (left as it was on any failure).
    UserError (one line) for a missing extra, a bad key or certificate, or a key that does not
    belong to the certificate."""
    _require()
    path = Path(path)
    try:
        with open_regular(path) as f:
            source = f.read()
    except OSError as e:
        raise UserError(f'cannot sign {path}: {e.strerror or e}') from None
    signed = sign_bytes(source, cert_chain_pem, private_key_pem, alg, model_name, model_sha256, title=path.name)
    try:
        atomic_write(path, lambda f: f.write(signed))
    except OSError as e:
        raise UserError(f'cannot write {path}: {e.strerror or e}') from None
    return path


def sign_bytes(source: bytes, cert_chain_pem: bytes, private_key_pem: bytes, alg: str = 'es256',
               model_name: str = '', model_sha256: str = '', title: str = '', model: bool = True) -> bytes:
    """``sign_file`` for an encoded image in memory -> the signed image, read back and verified
    (the signature, not the trust) before it is returned. ``model`` False: no model assertion."""
    c2pa = _require()
    alg = str(alg or 'es256').lower()
    if alg not in ALGORITHMS:
        raise UserError(f'C2PA signing algorithm {alg!r} is not one of {", ".join(ALGORITHMS)}')
    cert, key = _check_pems(cert_chain_pem, private_key_pem)
    mime = sniff_mime(source[:16])
    name = title or 'the image'
    if mime is None:
        raise UserError(f'cannot sign {name}: not a PNG, JPEG, WebP or TIFF image')
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg.encode(), cert, key, None))
    except c2pa.C2paError as e:
        raise UserError(f'C2PA key or certificate refused ({alg}): {_first_line(e)}') from None
    out = io.BytesIO()
    definition = manifest_definition(model_name, model_sha256, title, model=model)
    try:
        with signer, c2pa.Builder(definition) as builder:
            builder.sign(signer, mime, io.BytesIO(source), out)
    except c2pa.C2paError as e:
        hint = ' (does the key belong to the certificate, and does it fit the algorithm?)' \
            if 'signature' in str(e).lower() else ''
        raise UserError(f'C2PA signing {name} failed: {_first_line(e)}{hint}') from None
    signed = out.getvalue()
    check = verify_bytes(signed, mime)
    if check.status != 'valid':
        raise UserError(f'C2PA signing {name}: the signed file does not verify ({"; ".join(check.messages)})')
    return signed


@dataclass(frozen=True)
class Verification:
    """What the content credentials of a file say."""
    status: str                                 # 'valid' | 'invalid' | 'none'
    messages: tuple = ()                        # failure codes and explanations (or why it could not be read)
    claim_generator: str = ''                   # e.g. 'StyleGAN Explorer 0.9'
    model: dict | None = None                   # our assertion: {'name', 'sha256'}
    signer: str = ''                            # the certificate's common name, and its issuer
    trusted: bool = False                       # the chain leads to a configured trust anchor
    digital_source_type: str = ''               # of the c2pa.created action
    codes: tuple = field(default=(), repr=False)

    def summary(self) -> str:
        """One line for the status bar."""
        if self.status == 'none':
            return 'Content credentials: none'
        if self.status == 'invalid':
            return 'Content credentials: invalid: ' + ('; '.join(self.messages) or 'unknown failure')
        who = f', signed by {self.signer}' if self.signer else ''
        made = f', made with {self.model["name"]}' if self.model and self.model.get('name') else ''
        trust = '' if self.trusted else ' (certificate not on a trust list)'
        return f'Content credentials: valid{who}{made}{trust}'


def verify_file(path, trust_anchors_pem: bytes | str | None = None) -> Verification:
    """Verify the C2PA manifest of the image at ``path`` (see the module text). UserError when the
    extra is missing or the file cannot be read."""
    try:
        with open_regular(path) as f:
            data = f.read()
    except OSError as e:
        raise UserError(f'{path}: {e.strerror or e}') from None
    return verify_bytes(data, sniff_mime(data[:16]), trust_anchors_pem)


def verify_bytes(data: bytes, mime: str | None, trust_anchors_pem: bytes | str | None = None) -> Verification:
    """``verify_file`` for an image in memory (``mime`` None: the library detects it)."""
    c2pa = _require()
    settings = {k: dict(v) for k, v in _READ_SETTINGS.items()}
    if trust_anchors_pem:
        pem = trust_anchors_pem.decode() if isinstance(trust_anchors_pem, bytes) else str(trust_anchors_pem)
        settings['trust'] = {'trust_anchors': pem}
    try:
        ctx = c2pa.Context.from_dict(settings)
        with c2pa.Reader(mime or '', io.BytesIO(data), context=ctx) as reader:
            state = reader.get_validation_state() or ''
            results = reader.get_validation_results() or {}
            active = reader.get_active_manifest() or {}
    except c2pa.C2paError as e:
        if type(e).__name__.endswith('ManifestNotFound') or 'ManifestNotFound' in str(e)[:40]:
            return Verification('none')
        return Verification('invalid', (_first_line(e),))
    failures = (results.get('activeManifest') or {}).get('failure') or []
    codes = tuple(str(f.get('code', '')) for f in failures)
    messages = tuple(f"{f.get('code', '')}: {f.get('explanation', '')}" for f in failures
                     if f.get('code') != _UNTRUSTED)
    ok = state in ('Valid', 'Trusted')
    if not ok and not messages:
        messages = (f'validation state {state or "unknown"}',)
    return Verification('valid' if ok else 'invalid', messages, _generator(active), _model(active),
                        _signer(active), state == 'Trusted', _source_type(active), codes)


def _generator(active: dict) -> str:
    info = active.get('claim_generator_info') or []
    if info and isinstance(info[0], dict):
        return ' '.join(str(info[0].get(k)) for k in ('name', 'version') if info[0].get(k))
    return str(active.get('claim_generator') or '')


def _assertion(active: dict, *labels) -> dict | None:
    for a in active.get('assertions') or []:
        if isinstance(a, dict) and a.get('label') in labels and isinstance(a.get('data'), dict):
            return a['data']
    return None


def _model(active: dict) -> dict | None:
    d = _assertion(active, MODEL_LABEL)
    return {'name': str(d.get('name', '')), 'sha256': str(d.get('sha256', ''))} if d is not None else None


def _source_type(active: dict) -> str:
    d = _assertion(active, 'c2pa.actions', 'c2pa.actions.v2') or {}
    for a in d.get('actions') or []:
        if isinstance(a, dict) and a.get('action') == 'c2pa.created':
            return str(a.get('digitalSourceType') or '')
    return ''


def _signer(active: dict) -> str:
    s = active.get('signature_info') or {}
    name, issuer = s.get('common_name') or '', s.get('issuer') or ''
    if name and issuer:
        return f'{name}, issued by {issuer}'
    return str(name or issuer)
