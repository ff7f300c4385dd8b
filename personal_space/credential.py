"""E-certificates (电子证照): a result of a case as a signed text anyone can check offline.

A credential is a CWT (RFC 8392): CBOR claims, signed as a COSE_Sign1 (RFC 9052) with
EdDSA (Ed25519) by the node that issued the result, its key id (`yimen.sync.certs.key_id`)
in the protected header; then zlib (kept only when it makes the bytes shorter: a
COSE_Sign1 is mostly a signature and rarely shrinks; a zlib stream starts with 0x78, a
tagged COSE_Sign1 with 0xD2, so the decoder tells them apart, as EU DCC verifiers do),
Base45 (RFC 9285, the QR code's alphanumeric set) and the prefix `YM1:`; the QR code
(`credential_qr`) is segno's at error level Q.

Claims (keys: the registered CWT ones, and private negative ones for the rest; kept
short, so that a certificate fits a QR version of at most 12 at level Q):

| key | claim                                                                    |
|-----|--------------------------------------------------------------------------|
| 1   | iss: region of the issuing node (its key signs)                          |
| 6   | iat: issue time, Unix seconds                                            |
| 7   | cti: certificate id = the space document's id (bytes; `-<rest>` when it  |
|     | starts with the issuer's region, which it does for a node's own results) |
| -1  | document type: index in `TYPES_V1`, or the code as text for a later one  |
| -2  | holder's name                                                            |
| -3  | holder's masked ID number: its first 6 and last 4 characters             |
| -4  | salt (8 random bytes) + HMAC-SHA256(city key, salt + ID number)[:8]: a   |
|     | clerk at a node of the city, holding the citizen's ID card, checks it is |
|     | theirs (`holder_matches`). Keyed, because the rest of the number is all  |
|     | but printed: the mask leaves only the birth date (~36,000 guesses), and  |
|     | a plain hash of it is undone in a tenth of a second from a photograph.   |
| -5  | case id (`-<rest>` as for cti), "" for none                              |
| -6  | issued on, days since 1970-01-01                                         |
| -7  | valid until, days since 1970-01-01 (absent: no end)                      |

Decoding bounds every input (text length, decompressed size, CBOR size and shape) and
turns whatever a library raises on outside bytes into `BadCredential` (zh + en). The
signature is checked by `yimen.personal_space.credential_check` against the trust list.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
import zlib
from dataclasses import dataclass
from functools import lru_cache

import base45
import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cwt import COSE, COSEKey

from yimen.schema import idnumber, region
from yimen.schema.errors import YimenError
from yimen.sync import certs

PREFIX = "YM1:"
MAX_TEXT = 1200  # a YM1 text is about 280 characters
MAX_COSE = 800  # bytes of the COSE_Sign1 (about 190)
MAX_NAME = 50
MAX_ID = 64  # a certificate id or a case id
MAX_CODE = 64
EDDSA = -8  # COSE algorithm id
COSE_SIGN1_TAG = 18
SALT_BYTES = HASH_BYTES = 8
EPOCH = datetime.date(1970, 1, 1)
MAX_DAYS = 2**20  # days since 1970: well past year 4000
MAX_TIME = 2**40

# Document types by their index in YM1 credentials: append only (an index, once given,
# names its code for ever); a code not listed travels as text.
TYPES_V1 = (
    "id_card", "household_register", "residence_permit", "marriage_certificate", "divorce_certificate",
    "birth_certificate", "death_certificate", "disability_certificate", "veteran_certificate",
    "only_child_certificate", "subsistence_certificate", "bank_card", "photo", "income_proof", "medical_record",
    "medical_invoice", "property_certificate", "land_use_certificate", "land_contract_certificate",
    "housing_safety_appraisal", "student_status", "school_admission_notice", "labor_contract",
    "unemployment_registration", "employment_card", "social_insurance_record", "social_security_card",
    "mediation_agreement", "application_form", "commitment_letter", "authorization_letter",
    "residence_proof", "family_relation_proof",
)
_TYPE_INDEX = {code: i for i, code in enumerate(TYPES_V1)}


class BadCredential(YimenError):
    """A text, bytes or picture is not a Yimen e-certificate this code can read."""

    code = "bad_credential"


def _bad(zh: str, en: str) -> BadCredential:
    return BadCredential(f"不是有效的电子证照：{zh}", f"not a valid e-certificate: {en}")


@dataclass(frozen=True)
class Claims:
    cert_id: str  # the space document's id
    issuer: str  # region of the issuing node
    doc_type: str
    holder_name: str
    holder_masked: str  # like 440608********1235
    id_salt: bytes
    id_hash: bytes
    case_id: str
    issued_at: int  # Unix seconds
    issued_on: str  # ISO date
    valid_until: str  # ISO date or ""

    def as_dict(self) -> dict:
        return {"cert_id": self.cert_id, "issuer": self.issuer, "doc_type": self.doc_type,
                "holder_name": self.holder_name, "holder_masked": self.holder_masked, "case_id": self.case_id,
                "issued_at": self.issued_at, "issued_on": self.issued_on, "valid_until": self.valid_until}


def id_digest(city_key: bytes, salt: bytes, id_number: str) -> bytes:
    return hmac.new(city_key, salt + id_number.encode(), hashlib.sha256).digest()[:HASH_BYTES]


def claims_for(cert_id: str, issuer: str, doc_type: str, holder_name: str, id_number: str, case_id: str,
               issued_at: int, issued_on: str, valid_until: str = "", salt: bytes | None = None,
               city_key: bytes = b"") -> Claims:
    """The claims of a new credential (a fresh random salt unless given); the ID number is
    validated and kept only masked and as a salted hash keyed with the city key."""
    number = idnumber.validate_id_number(id_number)
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    c = Claims(cert_id, region.normalize(issuer), doc_type, holder_name, idnumber.mask(number), salt,
               id_digest(city_key, salt, number), case_id, issued_at, issued_on, valid_until)
    _check(c)
    return c


def holder_matches(claims: Claims, id_number: str, city_key: bytes = b"") -> bool:
    """Is `id_number` (as on the ID card shown) the holder's? (`city_key`: the issuer's
    city's, `yimen.personal_space.citizen.key`.)"""
    try:
        number = idnumber.validate_id_number(id_number)
    except YimenError:
        return False
    return hmac.compare_digest(id_digest(city_key, claims.id_salt, number), claims.id_hash)


# -- claims <-> CBOR map -----------------------------------------------------------------------
def _short(value: str, issuer: str) -> str:
    return value[len(issuer):] if value.startswith(issuer + "-") else value


def _long(value: str, issuer: str) -> str:
    return issuer + value if value.startswith("-") else value


def _days(iso: str) -> int:
    return (datetime.date.fromisoformat(iso) - EPOCH).days


def _iso(days: int) -> str:
    return (EPOCH + datetime.timedelta(days=days)).isoformat()


def to_map(c: Claims) -> dict[int, object]:
    m: dict[int, object] = {
        1: c.issuer, 6: c.issued_at, 7: _short(c.cert_id, c.issuer).encode(),
        -1: _TYPE_INDEX.get(c.doc_type, c.doc_type), -2: c.holder_name,
        -3: c.holder_masked[:6] + c.holder_masked[-4:], -4: c.id_salt + c.id_hash,
        -5: _short(c.case_id, c.issuer), -6: _days(c.issued_on)}
    if c.valid_until:
        m[-7] = _days(c.valid_until)
    return m


def _field(m: dict, key: int, kind: type, what: str) -> object:
    v = m.get(key)
    if type(v) is not kind:
        raise _bad(f"字段“{what}”缺失或类型不符", f"claim {what} is missing or of the wrong type")
    return v


def from_map(m: object) -> Claims:
    """The claims of a decoded CBOR map, each in its bounds (BadCredential otherwise)."""
    if not isinstance(m, dict) or not m.keys() <= {1, 6, 7, -1, -2, -3, -4, -5, -6, -7}:
        raise _bad("声明格式不符", "the claims are not a map of known keys")
    issuer = _field(m, 1, str, "iss")
    if not _region(issuer):
        raise _bad("签发机构代码无效", "the issuer is not a region code")
    cti = _field(m, 7, bytes, "cti")
    kind = m.get(-1)
    doc_type = TYPES_V1[kind] if type(kind) is int and 0 <= kind < len(TYPES_V1) else kind
    masked, salted, until = _field(m, -3, str, "masked id"), _field(m, -4, bytes, "id hash"), m.get(-7)
    if type(until) not in (int, type(None)) or len(salted) != SALT_BYTES + HASH_BYTES or len(masked) != 10:
        raise _bad("字段不合规", "a claim is out of bounds")
    try:
        cert_id = _long(cti.decode(), issuer)
        c = Claims(cert_id, issuer, doc_type, _field(m, -2, str, "name"), masked[:6] + "*" * 8 + masked[6:],
                   salted[:SALT_BYTES], salted[SALT_BYTES:], _long(_field(m, -5, str, "case id"), issuer),
                   _field(m, 6, int, "iat"), _iso(_bounded_days(_field(m, -6, int, "issued on"))),
                   "" if until is None else _iso(_bounded_days(until)))
    except (UnicodeDecodeError, OverflowError, ValueError) as e:
        raise _bad("字段不合规", f"a claim is out of bounds ({type(e).__name__})") from e
    _check(c)
    return c


def _bounded_days(v: int) -> int:
    if not 0 <= v < MAX_DAYS:
        raise ValueError("date out of range")
    return v


@lru_cache(maxsize=4096)
def _region(code: str) -> bool:
    try:
        return code.isascii() and code.isdigit() and region.normalize(code) == code
    except YimenError:
        return False


def _text(v: object, limit: int, empty: bool = False) -> bool:
    return type(v) is str and (empty or v != "") and len(v) <= limit and v.isprintable() and v == v.strip()


def _check(c: Claims) -> None:
    ok = (_text(c.cert_id, MAX_ID) and _text(c.doc_type, MAX_CODE) and _text(c.holder_name, MAX_NAME)
          and _text(c.case_id, MAX_ID, empty=True) and " " not in c.cert_id and " " not in c.case_id
          and _region(c.issuer) and type(c.issued_at) is int and 0 <= c.issued_at < MAX_TIME
          and len(c.holder_masked) == 18 and c.holder_masked[6:14] == "*" * 8
          and all(ch.isdigit() or ch == "X" for ch in c.holder_masked[:6] + c.holder_masked[14:])
          and len(c.id_salt) == SALT_BYTES and len(c.id_hash) == HASH_BYTES)
    if not ok:
        raise _bad("字段不合规", "a claim is out of bounds")
    try:
        dates = [datetime.date.fromisoformat(c.issued_on)] + (
            [datetime.date.fromisoformat(c.valid_until)] if c.valid_until else [])
    except (TypeError, ValueError) as e:
        raise _bad("日期无效", "a date is not an ISO date") from e
    if any(not 0 <= (d - EPOCH).days < MAX_DAYS for d in dates) or (len(dates) == 2 and dates[1] < dates[0]):
        raise _bad("日期无效", "a date is out of range")


# -- signing and the text ---------------------------------------------------------------------
@lru_cache(maxsize=64)
def _signing_key(private: bytes) -> object:
    public = Ed25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()
    return COSEKey.new({1: 1, 3: EDDSA, -1: 6, -2: public, -4: private, 2: certs.key_id(public)})


@lru_cache(maxsize=1024)
def verifying_key(public: bytes) -> object:
    """The COSE key of a node's public signing key (a key id names its bytes for ever)."""
    return COSEKey.new({1: 1, 3: EDDSA, -1: 6, -2: public, 2: certs.key_id(public)})


def sign(claims: Claims, key: Ed25519PrivateKey) -> bytes:
    """The COSE_Sign1 of the claims, signed with the issuing node's key."""
    private = key.private_bytes_raw()
    kid = certs.key_id(key.public_key().public_bytes_raw())
    return COSE.new().encode_and_sign(cbor2.dumps(to_map(claims)), _signing_key(private),
                                      protected={1: EDDSA, 4: kid})


def to_text(cose: bytes) -> str:
    packed = zlib.compress(cose, 9)
    return PREFIX + base45.b45encode(packed if len(packed) < len(cose) else cose).decode("ascii")


def from_text(text: object) -> bytes:
    """The COSE_Sign1 bytes a YM1 text carries (bounded; BadCredential otherwise)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError as e:
            raise _bad("含有非法字符", "it holds characters outside the QR code's set") from e
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise _bad("过长或不是文本", "too long, or not text")
    text = text.strip()
    if not text.startswith(PREFIX):
        raise _bad(f"不以 {PREFIX} 开头", f"it does not start with {PREFIX}")
    try:
        raw = base45.b45decode(text[len(PREFIX):])
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise _bad("Base45 编码无效", "bad Base45") from e
    return _inflate(raw) if raw[:1] == b"\x78" else _bounded(raw)


def _bounded(raw: bytes) -> bytes:
    if not 0 < len(raw) <= MAX_COSE:
        raise _bad("内容过长或为空", "the content is too long or empty")
    return raw


def _inflate(raw: bytes) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(raw, MAX_COSE + 1)
    except zlib.error as e:
        raise _bad("压缩数据无效", "bad zlib data") from e
    if len(out) > MAX_COSE or d.unconsumed_tail or not d.eof or d.unused_data:
        raise _bad("压缩数据无效或过长", "the zlib data is bad, truncated or too long")
    return _bounded(out)


# -- reading a COSE_Sign1 ----------------------------------------------------------------------
@dataclass(frozen=True)
class Parsed:
    cose: bytes  # as signed
    key_id: bytes
    claims: Claims


def _loads(raw: bytes, what: str) -> object:
    try:
        return cbor2.loads(raw)
    except Exception as e:  # noqa: BLE001 (cbor2 raises many types on outside bytes: all are "not CBOR")
        raise _bad(f"{what}不是有效的 CBOR", f"the {what} is not valid CBOR ({type(e).__name__})") from e


def parse(cose: bytes) -> Parsed:
    """The key id and claims of a COSE_Sign1 (no signature check: see `credential_check`)."""
    outer = _loads(_bounded(cose), "签名结构")
    if isinstance(outer, cbor2.CBORTag) and outer.tag == COSE_SIGN1_TAG:
        outer = outer.value
    if not (isinstance(outer, list) and len(outer) == 4 and type(outer[0]) is bytes and isinstance(outer[1], dict)
            and type(outer[2]) is bytes and type(outer[3]) is bytes and len(outer[3]) == 64):
        raise _bad("不是 COSE_Sign1 签名结构", "not a COSE_Sign1")
    protected = _loads(outer[0], "受保护头部")
    if not (isinstance(protected, dict) and protected.get(1) == EDDSA and type(protected.get(4)) is bytes
            and len(protected[4]) == certs.KEY_ID_BYTES):
        raise _bad("签名算法或密钥编号不符", "the algorithm is not EdDSA or the key id is missing")
    return Parsed(cose, protected[4], from_map(_loads(outer[2], "声明")))


def decode(text: object) -> Parsed:
    """The key id and claims of a YM1 text, of its ASCII bytes, or of the COSE_Sign1 bytes
    themselves (a space document's `credential`); no signature check."""
    if isinstance(text, bytes) and not text.startswith(PREFIX.encode()):
        return parse(text)
    return parse(from_text(text))


def check_signature(parsed: Parsed, public_key: bytes) -> bool:
    """Does the signature of `parsed` hold under `public_key`? (cwt does the COSE work.)"""
    try:
        COSE.new().decode(parsed.cose, verifying_key(public_key))
    except Exception:  # noqa: BLE001 (cwt's VerifyError and whatever it raises on odd bytes: not signed so)
        return False
    return True
