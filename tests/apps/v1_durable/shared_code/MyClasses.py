"""A class the Durable SDK can carry: it calls the static `to_json`/`from_json` and records the
module, here `__app__.shared_code.MyClasses`, to rebuild it."""


class SerializableClass:
    def __init__(self, number: int) -> None:
        self.number = number

    def show_number(self) -> int:
        return self.number

    @staticmethod
    def to_json(obj: object) -> str:
        assert isinstance(obj, SerializableClass)
        return str(obj.number)

    @staticmethod
    def from_json(json_str: str) -> object:
        return SerializableClass(int(json_str))
