"""Stands in for the sample's SMS: the challenge code is the phone number's last four digits."""

import logging


def main(phone: str) -> int:
    code = int(phone[-4:])
    logging.info("Sending challenge code to %s", phone)
    return code
