import azure.functions as func


def main(blob: func.InputStream) -> None:
    return None
