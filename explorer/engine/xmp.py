"""XMP packets that say what an exported image is: IPTC DigitalSourceType
``trainedAlgorithmicMedia``, a description, the creator tool, the checkpoint and the recipe.

Built and read with the standard library's ElementTree (no new dependency; Pillow puts the
packet into each file format, see ``explorer.engine.image_export``). Reading treats the
packet as untrusted: size-capped, and a DOCTYPE/ENTITY declaration is refused before parsing.

JPEG keeps an APP1 XMP segment under 64 KiB; a larger packet (a recipe with stored W+
latents) is split the Adobe way ("Extended XMP", XMP spec part 3, 1.1.3.1): the standard
packet keeps the labels and points with ``xmpNote:HasExtendedXMP`` to a second packet,
carried in ``http://ns.adobe.com/xmp/extension/`` segments, that holds the recipe.
"""

from __future__ import annotations

import hashlib
import json
import struct
import xml.etree.ElementTree as ET

NS = {
    'x': 'adobe:ns:meta/',
    'rdf': 'http://www.w3.org/1999/02/22-rdf-syntax-ns#',
    'dc': 'http://purl.org/dc/elements/1.1/',
    'xmp': 'http://ns.adobe.com/xap/1.0/',
    'xmpNote': 'http://ns.adobe.com/xmp/note/',
    'Iptc4xmpExt': 'http://iptc.org/std/Iptc4xmpExt/2008-02-29/',
    'sgx': 'http://ns.stylegan-explorer.invalid/1.0/',   # our own fields (a name, not a web page)
}
TRAINED_ALGORITHMIC_MEDIA = 'http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia'
MAX_PACKET = 16 << 20               # bytes; a larger XMP packet in a file we open is refused
JPEG_XMP_ID = b'http://ns.adobe.com/xap/1.0/\x00'
JPEG_EXT_ID = b'http://ns.adobe.com/xmp/extension/\x00'
JPEG_XMP_MAX = 65533 - len(JPEG_XMP_ID)     # bytes of packet one APP1 segment holds
JPEG_EXT_CHUNK = 65000                      # bytes of extended packet per APP1 segment

for _p, _u in NS.items():
    ET.register_namespace(_p, _u)


def _q(name: str) -> str:
    prefix, local = name.split(':')
    return f'{{{NS[prefix]}}}{local}'


def build_xmp(fields: dict, extended_guid: str | None = None) -> bytes:
    """An XMP packet (UTF-8 bytes) from ``fields``; keys (all optional):
    'digital_source_type' (URI), 'description', 'title', 'creator_tool', 'create_date' (ISO 8601),
    'checkpoint', 'checkpoint_sha256', 'recipe' (a dict, written as JSON text)."""
    root = ET.Element(_q('x:xmpmeta'))
    rdf = ET.SubElement(root, _q('rdf:RDF'))
    d = ET.SubElement(rdf, _q('rdf:Description'), {_q('rdf:about'): ''})
    if fields.get('digital_source_type'):
        ET.SubElement(d, _q('Iptc4xmpExt:DigitalSourceType')).text = fields['digital_source_type']
    for key, tag in (('title', 'dc:title'), ('description', 'dc:description')):
        if fields.get(key):
            alt = ET.SubElement(ET.SubElement(d, _q(tag)), _q('rdf:Alt'))
            li = ET.SubElement(alt, _q('rdf:li'), {'{http://www.w3.org/XML/1998/namespace}lang': 'x-default'})
            li.text = fields[key]
    for key, tag in (('creator_tool', 'xmp:CreatorTool'), ('create_date', 'xmp:CreateDate'),
                     ('checkpoint', 'sgx:Checkpoint'), ('checkpoint_sha256', 'sgx:CheckpointSHA256')):
        if fields.get(key):
            ET.SubElement(d, _q(tag)).text = str(fields[key])
    if fields.get('recipe') is not None:
        ET.SubElement(d, _q('sgx:Recipe')).text = json.dumps(fields['recipe'], sort_keys=True)
    if extended_guid:
        ET.SubElement(d, _q('xmpNote:HasExtendedXMP')).text = extended_guid
    body = ET.tostring(root, encoding='unicode')
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n' + body
            + '\n<?xpacket end="w"?>').encode('utf-8')


def parse_xmp(packet: bytes | str) -> dict:
    """The fields ``build_xmp`` writes, read back from a packet (others are ignored); 'recipe'
    is the decoded dict. ValueError for a packet that is not XMP we can read."""
    if isinstance(packet, str):
        packet = packet.encode('utf-8')
    if len(packet) > MAX_PACKET:
        raise ValueError('XMP packet too large')
    if b'<!DOCTYPE' in packet or b'<!ENTITY' in packet:
        raise ValueError('XMP packet has a DOCTYPE/ENTITY declaration')
    start, end = packet.find(b'<x:xmpmeta'), packet.rfind(b'</x:xmpmeta>')
    if start < 0 or end < 0:
        start, end = packet.find(b'<rdf:RDF'), packet.rfind(b'</rdf:RDF>')
        if start < 0 or end < 0:
            raise ValueError('no XMP in the packet')
        end += len(b'</rdf:RDF>')
    else:
        end += len(b'</x:xmpmeta>')
    try:
        root = ET.fromstring(packet[start:end])
    except ET.ParseError as e:
        raise ValueError(f'XMP is not well-formed ({e})') from None
    out: dict = {}
    for d in root.iter(_q('rdf:Description')):
        for key, tag in (('digital_source_type', 'Iptc4xmpExt:DigitalSourceType'), ('creator_tool', 'xmp:CreatorTool'),
                         ('create_date', 'xmp:CreateDate'), ('checkpoint', 'sgx:Checkpoint'),
                         ('checkpoint_sha256', 'sgx:CheckpointSHA256'), ('recipe', 'sgx:Recipe'),
                         ('extended_guid', 'xmpNote:HasExtendedXMP')):
            el = d.find(_q(tag))
            value = el.text if el is not None else d.get(_q(tag))     # element or attribute form
            if value is not None:
                out[key] = value.strip()
        for key, tag in (('title', 'dc:title'), ('description', 'dc:description')):
            li = d.find(f'{_q(tag)}/{_q("rdf:Alt")}/{_q("rdf:li")}')
            if li is not None and li.text is not None:
                out[key] = li.text
    if 'recipe' in out:
        try:
            out['recipe'] = json.loads(out['recipe'])
        except json.JSONDecodeError as e:
            raise ValueError(f'the recipe in the XMP is not valid JSON ({e})') from None
    return out


# ---------------------------------------------------------------------------- JPEG
def jpeg_segments(fields: dict) -> tuple[bytes, bytes]:
    """-> (standard packet, APP1 segments of the extended packet or b'') for a JPEG. The
    standard packet fits one segment; when all fields do not fit, the recipe moves to the
    extended packet (its GUID: the MD5 of that packet, as the spec says)."""
    packet = build_xmp(fields)
    if len(packet) <= JPEG_XMP_MAX or fields.get('recipe') is None:
        if len(packet) > JPEG_XMP_MAX:
            raise ValueError('XMP packet too large for a JPEG')
        return packet, b''
    ext = build_xmp({'recipe': fields['recipe']})
    guid = hashlib.md5(ext).hexdigest().upper()
    main = build_xmp({k: v for k, v in fields.items() if k != 'recipe'}, extended_guid=guid)
    segs = []
    for off in range(0, len(ext), JPEG_EXT_CHUNK):
        chunk = ext[off:off + JPEG_EXT_CHUNK]
        payload = JPEG_EXT_ID + guid.encode('ascii') + struct.pack('>II', len(ext), off) + chunk
        segs.append(b'\xff\xe1' + struct.pack('>H', len(payload) + 2) + payload)
    return main, b''.join(segs)


def jpeg_extended(applist, guid: str) -> bytes | None:
    """The extended XMP packet with ``guid`` from a JPEG's APP segments (Pillow's
    ``im.applist``: [(marker, data)]), or None when it is missing or incomplete."""
    parts, total = {}, None
    for marker, data in applist:
        if marker != 'APP1' or not data.startswith(JPEG_EXT_ID):
            continue
        head = data[len(JPEG_EXT_ID):]
        if len(head) < 40 or head[:32].decode('ascii', 'replace') != guid:
            continue
        size, off = struct.unpack('>II', head[32:40])
        if size > MAX_PACKET:
            return None
        total = size
        parts[off] = head[40:]
    if total is None:
        return None
    buf = bytearray(total)
    got = 0
    for off, chunk in parts.items():
        if off + len(chunk) > total:
            return None
        buf[off:off + len(chunk)] = chunk
        got += len(chunk)
    return bytes(buf) if got == total else None


def metadata_from_info(info: dict, applist=()) -> dict:
    """The XMP fields (``parse_xmp``) from Pillow's ``info`` of an opened image, the JPEG extended
    packet's recipe included (``applist``: its APP segments); {} without XMP. ValueError for a
    damaged or refused packet."""
    packet = info.get('xmp') or info.get('XML:com.adobe.xmp')
    if not packet:
        return {}
    meta = parse_xmp(packet)
    if meta.get('extended_guid') and 'recipe' not in meta:
        ext = jpeg_extended(applist, meta['extended_guid'])
        if ext is not None:
            meta.update({k: v for k, v in parse_xmp(ext).items() if k == 'recipe'})
    return meta
