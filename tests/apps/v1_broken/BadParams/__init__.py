import azure.functions as func


def main(request: func.HttpRequest) -> str:  # function.json names the binding "req"
    return "never"
