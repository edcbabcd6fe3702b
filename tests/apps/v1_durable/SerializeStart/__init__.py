"""Starts E6_SerializeArgs with a SerializableClass as its input and answers through an
`Out[HttpResponse]` output binding instead of a return value."""

import azure.functions as func
from azure.durable_functions import DurableOrchestrationClient

from ..shared_code.MyClasses import SerializableClass


async def main(req: func.HttpRequest, starter: str, message: func.Out[func.HttpResponse]) -> None:
    client = DurableOrchestrationClient(starter)
    number = int(req.route_params["number"])
    instance_id = await client.start_new("E6_SerializeArgs", client_input=SerializableClass(number))
    message.set(client.create_check_status_response(req, instance_id))
