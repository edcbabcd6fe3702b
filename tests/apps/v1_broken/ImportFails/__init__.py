import azure.functions as func
import definitely_not_installed_v1_module  # noqa: F401


def main(req: func.HttpRequest) -> str:
    return "never"
