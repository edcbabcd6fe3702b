from __app__.shared_code.MyClasses import SerializableClass


def main(value: SerializableClass) -> SerializableClass:
    return SerializableClass(value.show_number() * 2)
