"""Applicants' phone numbers, checked and written one way (Google's libphonenumber data
through the `phonenumbers` package, region CN, so that a number without `+86` is read as
Chinese).

A mobile number is kept as its 11 digits (`13800138000`), a landline with its area code
and a hyphen (`0757-88881234`: a local number without the area code reaches nobody from
another district, so it is refused), a service number (400/800) as its digits, and a
number from outside the mainland (Hong Kong, Macao, abroad) in international form
(`+85291234567`). Empty stays empty: the phone is optional.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from yimen.schema.errors import SchemaError

CN = 86


class InvalidPhone(SchemaError):
    """The text is not a valid mobile or landline number."""

    code = "invalid_phone"


@lru_cache(maxsize=1)
def _mobile() -> re.Pattern[str]:
    """The library's own pattern of a mainland mobile number: a number already written as
    11 digits (most are) is checked without a full parse, which costs ~50 µs an accept."""
    desc = phonenumbers.PhoneMetadata.metadata_for_region("CN").mobile
    return re.compile(desc.national_number_pattern)


def normalize_phone(text: str) -> str:
    """The number `text` names, written as the module says; `InvalidPhone` if none."""
    raw = unicodedata.normalize("NFKC", text).strip()
    if not raw:
        return ""
    if len(raw) == 11 and raw.isascii() and raw.isdigit() and _mobile().fullmatch(raw):
        return raw
    return _parsed(raw, text)


def _parsed(raw: str, text: str) -> str:
    """`normalize_phone` by a full parse of the library."""
    try:
        number = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"电话号码“{text}”无效：请填写 11 位手机号，或带区号的固定电话（如 0757-88881234）",
                           f"'{text}' is not a valid phone number: give an 11-digit mobile number or a "
                           f"landline with its area code (e.g. 0757-88881234)")
    if number.country_code != CN:
        return phonenumbers.format_number(number, PhoneNumberFormat.E164)
    digits = phonenumbers.national_significant_number(number)
    area = phonenumbers.length_of_geographical_area_code(number)
    if area and phonenumbers.number_type(number) != PhoneNumberType.MOBILE:
        return f"0{digits[:area]}-{digits[area:]}"
    return digits
